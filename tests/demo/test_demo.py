"""`greengate demo` end to end, as a newcomer runs it: a subprocess in its own
session (like a shell job), two gates, shortened timings. The gates are
provisioned over their console ptys and come online (fleet API), their scans
reach the database (API) and the dashboard (Debian's Chromium), the F0 case
suspends a business and its gate then denies with SUSPENDED; Ctrl-C (SIGINT to
the whole process group, as a terminal sends it) and SIGTERM (to the demo
alone, as a service manager sends it) leave no process of the session
running (checked in /proc)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from demo_helpers import PASSWORD, Demo, login, session_processes, wait_until

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def test_demo_runs_a_living_fleet_and_ctrl_c_leaves_nothing(tmp_path):
    demo = Demo(tmp_path, "--terminals", "2", "--speed", "4", "--f0-after", "60")
    try:
        banner = demo.wait_banner()
        assert f"{demo.url}/ui/" in banner and f"operator / {PASSWORD}" in banner
        devices = [line.split("\t")[0] for line in banner.splitlines() if line.startswith("gg-")]
        assert len(devices) == 2, banner
        api = login(demo.url)

        # provisioned through the real path: registered with their own keys, online
        rows = wait_until(lambda: [d for d in api.get("/devices").json()
                                   if d["id"] in devices and d["online"]] or None,
                          timeout=30, what="devices online")
        assert {d["id"] for d in rows} == set(devices)
        assert all(len(d["public_key"]) == 64 and d["site_id"] for d in rows)
        # the EU DCC signer table (kind 7) reached every gate: state key 16
        dcc = api.get("/dcc").json()
        assert dcc["version"] and "VN" in dcc["countries"], dcc
        wait_until(lambda: all(d["dcc_keys"] == dcc["signers"] for d in api.get("/devices").json()
                               if d["id"] in devices) or None, timeout=60, what="DCC table on the gates")

        # scans reach the database, with the gates' own verdicts
        scans = wait_until(lambda: (s := api.get("/scans", params={"limit": 200}).json())
                           and len(s) >= 6 and s, timeout=60, what="scans stored")
        assert {s["device_id"] for s in scans} <= set(devices)
        assert any(s["verdict"] for s in scans) and any(not s["verdict"] for s in scans)

        # the dashboard shows the gates online and the scans in the feed
        if CHROMIUM.exists():
            dashboard(demo.url, devices, api)

        # visitors with an EU DCC are admitted; the one revoked by UCI is denied
        seen = json.loads((tmp_path / "demo" / "fleet" / "dcc-visitors.json").read_text())
        dcc_scans = wait_until(lambda: [s for s in api.get("/scans", params={"limit": 500}).json()
                                        if s["pass_hash"] in seen["holders"] and s["verdict"]] or None,
                               timeout=90, what="an EU DCC admitted")
        assert all(s["reason_name"] == "OK" for s in dcc_scans)

        # F0 after 60 s / speed 4: a business suspended, its gate denies SUSPENDED
        case = wait_until(lambda: [c for c in api.get("/f0").json() if c["suspended_businesses"]],
                          timeout=60, what="F0 case with a suspended business")[0]
        suspended = case["suspended_businesses"]
        assert api.get(f"/businesses/{suspended[0]}").json()["status"] == "suspended"
        revoked = api.get("/revocations", params={"since_version": 0}).json()
        assert case["pass_hash"] in {r["pass_hash"] for r in revoked}
        wait_until(lambda: [s for s in api.get("/scans", params={"limit": 50}).json()
                            if s["reason_name"] == "SUSPENDED"],
                   timeout=60, what="a SUSPENDED decision from a gate")
        api.close()

        # Ctrl-C in a terminal: SIGINT to the whole foreground process group
        rc = demo.stop(signal.SIGINT, group=True)
        assert rc == 0, demo.stderr()[-3000:]
        assert "no process left behind" in demo.stderr()
        assert session_processes(demo.sid) == []
        with pytest.raises(httpx.TransportError):
            httpx.get(demo.url + "/healthz", timeout=2)
    finally:
        demo.kill()


def dashboard(url: str, devices: list[str], api: httpx.Client) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(url + "/ui/")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            for dev in devices:
                expect(page.locator(f'tr[data-device="{dev}"]')).to_contain_text("Trực tuyến")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "demo-01-overview.png"), full_page=True)
            page.goto(url + "/ui/feed")
            stored = api.get("/scans", params={"limit": 20}).json()
            prefixes = [s["pass_hash"][:8] for s in stored if s["pass_hash"]]
            assert prefixes
            feed = page.locator("#feed tbody")
            expect(feed).to_contain_text(prefixes[-1])  # an older one: rendered with the page
            # a scan made while the page is open arrives live
            newest = stored[0]["id"]
            fresh = wait_until(lambda: [s for s in api.get("/scans", params={"limit": 5}).json()
                                        if s["id"] > newest and s["pass_hash"]],
                               timeout=30, what="a new scan")
            expect(feed).to_contain_text(fresh[0]["pass_hash"][:8])
            page.screenshot(path=str(SHOTS / "demo-02-feed.png"), full_page=True)
        finally:
            browser.close()


def test_sigterm_stops_the_demo_and_its_children(tmp_path):
    demo = Demo(tmp_path, "--terminals", "1", "--speed", "4")
    try:
        demo.wait_banner()
        assert len(session_processes(demo.sid)) >= 3  # demo, fleet, firmware
        rc = demo.stop(signal.SIGTERM, group=False)  # the demo only, as systemd would
        assert rc == 0, demo.stderr()[-3000:]
        assert session_processes(demo.sid) == []
    finally:
        demo.kill()


def test_ctrl_c_during_start_up_stops_everything(tmp_path):
    demo = Demo(tmp_path, "--terminals", "2")
    try:
        wait_until(lambda: "provisioning: firmware" in demo.stderr() or demo.proc.poll() is not None,
                   timeout=120, step=0.1, what="provisioning started")
        rc = demo.stop(signal.SIGINT, group=True)
        assert rc == 0, demo.stderr()[-3000:]
        assert session_processes(demo.sid) == []
    finally:
        demo.kill()
