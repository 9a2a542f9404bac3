"""Pass card PNG -> zxing-cpp -> scanner pty -> decision -> relay pulse +
screen + scan report at a paho subscriber, on the real firmware and a real
mosquitto. The image goes through `greengate sim scan IMAGE` itself (the
Typer command, its socket request and the fake module typing the text at the
module's baud rate with its terminator)."""

from __future__ import annotations

import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageChops
from typer.testing import CliRunner

from e2e_kit import (BUSINESS, Fleet, boot, config_body, issue_pass, kind, pass_hash,
                     provision_site, reason_code, reported)
from greengate.control.config import allowlist_blob, workers
from greengate.passes import claims as c
from greengate.passes.issue import save_qr
from greengate.sim.cli import app as sim_cli
from greengate.sim.terminal import read_qr
from mpy import REPO, run_micropython

DEVICE = "gg-0000000e2e01"
GOLDEN = REPO / "tests" / "firmware" / "display" / "golden"
DISPLAY_DRIVER = REPO / "tests" / "firmware" / "display" / "driver_display.py"
RELAY_MS = 3000  # config default (docs/firmware.md)


def same_picture(png: Path, expected: Path) -> bool:
    try:
        with Image.open(png) as a, Image.open(expected) as b:
            a.load()
            b.load()
            if a.size != b.size:
                return False
            return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    except (OSError, SyntaxError, ValueError):
        return False  # being rewritten right now: read again


def wait_picture(png: Path, expected: Path, timeout: float = 2.0) -> bool:
    """The display PNG is rewritten at every screen change (the verdict
    screen stays 2.5 s): poll until it shows `expected`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if same_picture(png, expected):
            return True
        time.sleep(0.02)
    return same_picture(png, expected)


def render_reference(tmp: Path, name: str, method: str, args: list) -> Path:
    """A screen drawn by the display package alone (the display tests'
    driver), for a screen that has no reviewed golden image."""
    import json

    out = tmp / f"ref_{name}.png"
    req = {"id": 0, "op": "screen", "panel": "ssd1306", "method": method, "args": args,
           "lang": "vi+en", "png": str(out), "pbm": str(tmp / f"ref_{name}.pbm")}
    res = run_micropython(DISPLAY_DRIVER, stdin=json.dumps(req) + "\n")
    answer = json.loads(res.stdout.decode().splitlines()[0])
    assert "error" not in answer, (answer, res.stderr.decode()[-2000:])
    return out


def scan_card(root: Path, png: Path) -> str:
    res = CliRunner().invoke(sim_cli, ["scan", str(png), "--dir", str(root)])
    assert res.exit_code == 0, res.output
    return res.stdout.strip()


def test_pass_card_to_gate_screen_and_report(tmp_path, mosquitto_broker):
    now = int(time.time())
    listed_worker_cti = bytes.fromhex("5757575757575757")
    allowlist = allowlist_blob([listed_worker_cti])
    issuer = Ed25519PrivateKey.generate()
    revoked_text = issue_pass(issuer, bytes.fromhex("8899aabbccddeeff"))
    root = tmp_path / "sim"
    site = provision_site(root / "flash", tmp_path, DEVICE, config=config_body(
        allowlist, rules=[workers()]), blobs=[allowlist], revoked=[pass_hash(revoked_text)],
        issuer_key=issuer)
    cards = {
        # the golden accept screen is role 0 (resident), "LTH", 1990
        "accept": site.issue(bytes.fromhex("0011223344556677"), initials="LTH", birth_year=1990),
        "expired": site.issue(bytes.fromhex("1111222233334444"), iat=now - 30 * 86400,
                              exp=now - 86400),
        "revoked": revoked_text,
        "not_listed": site.issue(bytes.fromhex("2222333344445555"), role=c.Role.WORKER,
                                 initials="TVB", birth_year=1992, business=BUSINESS),
    }
    expect = {  # verdict, reason, expected display picture
        "accept": (True, "OK", GOLDEN / "ssd1306_accept_resident.png"),
        "expired": (False, "EXPIRED", GOLDEN / "ssd1306_deny_expired.png"),
        "revoked": (False, "REVOKED", GOLDEN / "ssd1306_deny_revoked.png"),
        "not_listed": (False, "NOT_LISTED", render_reference(
            tmp_path, "deny_not_listed", "deny", [reason_code("NOT_LISTED")])),
    }
    images = {}
    for name, text in cards.items():
        images[name] = tmp_path / f"{name}.png"
        save_qr(text, images[name])
        assert read_qr(images[name]) == [text]  # the card itself is readable

    sub = Fleet(mosquitto_broker.port, [f"gg/v1/dev/{DEVICE}/scans"])  # acks each batch
    sim = boot(root, DEVICE, mosquitto_broker.port)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=30)
        sim.wait_for(kind("screen", screen="idle"), timeout=20)
        # the firmware set the module up: 115200 baud, CR after each code
        assert sim.fake.baud == 115200 and sim.fake.terminator == b"\r"
        hashes = {}
        for name, text in cards.items():
            verdict, reason, picture = expect[name]
            n = len(sim.events())
            assert scan_card(root, images[name]) == text
            decision = sim.wait_for(kind("decision"), after=n, timeout=30)
            hashes[name] = pass_hash(text)
            assert decision["verdict"] is verdict, (name, decision)
            assert decision["reason"] == reason, (name, decision)
            assert decision["pass"] == hashes[name].hex()
            screen = "accept" if verdict else "deny"
            sim.wait_for(kind("screen", screen=screen), after=n, timeout=5)
            assert wait_picture(sim.paths.display, picture), f"{name}: display is not {picture.name}"
            if verdict:
                opened = sim.wait_for(kind("pin", name="relay", value=1), after=n)
                closed = sim.wait_for(kind("pin", name="relay", value=0), after=n, timeout=10)
                # the configured pulse; the "on" event's time stamp is taken
                # just after the pulse starts counting (1 ms tick granularity)
                assert closed["ms"] - opened["ms"] >= RELAY_MS - 1
            else:
                sim.wait_for(kind("pin", name="led_red", value=1), after=n, timeout=5)
                time.sleep(0.5)
                evs = sim.events()[n:]
                assert not [e for e in evs if e.get("name") == "relay" and e.get("value") == 1], name
            sim.wait_for(kind("screen", screen="idle"), after=n, timeout=10)

        # the four reports: seqs 1..4 in scan order, hash / verdict / reason
        assert sub.wait(lambda m: len(reported(sub)) >= 4, timeout=30)
        got = reported(sub)
        assert sorted(got) == [1, 2, 3, 4]
        for seq, name in enumerate(cards, start=1):
            verdict, reason, _ = expect[name]
            for e in got[seq]:
                assert e["device"] == DEVICE
                assert e["pass"] == hashes[name]
                assert e["verdict"] is verdict and e["reason"] == reason_code(reason)
                assert e["time_valid"] is True and abs(e["time"] - now) < 600
        # privacy: no pass text, initials or birth year leave the device
        raw = b"".join(p for _, p, _ in sub.snapshot())
        for text in cards.values():
            assert text.encode() not in raw
        assert b"LTH" not in raw and b"TVB" not in raw
    finally:
        sim.stop()
        sub.close()

