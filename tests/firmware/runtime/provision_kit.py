"""Provision a simulated device's flash the way the control plane would:
signed trust list, revocation list (+ snapshot blob) and site config, applied
by the firmware's own control/envelope.open_message under MicroPython."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import envelope as env
from greengate.control.revocation import build_snapshot, revocation_body
from greengate.passes import claims as c
from greengate.passes.issue import issue
from greengate.passes.keys import TrustEntry, device_trust_bytes, kid_for, raw_public
from greengate.passes.verify import parse_sign1, unwrap
from mpy import run_micropython

SITE = "q7-sim-001"
ISSUER = "HCM-D7"

APPLY = """
import sys, json
from control.state import ControlState
from control import envelope, blob
req = json.loads(sys.stdin.read())
state = ControlState(req["root"], req["device"], req["site"])
keys = [bytes.fromhex(k) for k in req["fleet_keys"]]
out = []
for m in req["messages"]:
    with open(m["path"], "rb") as f:
        data = f.read()
    body = envelope.open_message(data, m["kind"], keys, state, req["now"])
    out.append(body is not None)
for b in req["blobs"]:
    with open(b["path"], "rb") as f:
        data = f.read()
    import hashlib
    with open(blob.blob_path(req["root"], hashlib.sha256(data).digest()), "wb") as f:
        f.write(data)
print(json.dumps(out))
"""


def apply_messages(req: dict) -> list:
    """Run APPLY (the device's own control code) on req["root"]; the list of
    applied flags it prints. The PyPI unix-port wrapper now and then ends a
    script with exit 0 and its output lost (tests/mpy.py; seen in CI as a
    lone newline here): then the control directory is emptied and APPLY runs
    once more (it is not idempotent: a message applied already gives False).
    Any other outcome, and a second lost output, fail as they are."""
    import shutil

    for attempt in (1, 2):
        res = run_micropython(APPLY, stdin=json.dumps(req))
        if res.returncode != 0:
            raise AssertionError("APPLY failed: " + res.stderr.decode())
        try:
            return json.loads(res.stdout)
        except ValueError:
            if attempt == 2:
                raise AssertionError(f"APPLY printed no result: stdout {res.stdout!r}, "
                                     f"stderr {res.stderr!r}") from None
            shutil.rmtree(req["root"])
            Path(req["root"]).mkdir(parents=True)
    raise AssertionError("unreachable")


def pass_hash(text: str) -> bytes:
    return hashlib.sha256(parse_sign1(unwrap(text)).signature).digest()[:16]


@dataclass
class Bundle:
    """What a fleet publishes for one device, plus two passes to show it."""

    messages: list  # [(kind, signed bytes)]: trust, revocation, config
    blobs: list  # [bytes]: the revocation snapshot
    fleet_public: bytes
    fleet_key: Ed25519PrivateKey
    good_pass: str
    revoked_pass: str


def resident(now: int, cti: bytes) -> c.PassClaims:
    return c.PassClaims(
        iss=ISSUER, iat=now - 3600, exp=now + 7 * 86400, cti=cti, role=c.Role.RESIDENT,
        initials="NVA", birth_year=1985, vaccination=c.Vaccination(2, date(2021, 8, 1)),
        health_decl=date.fromtimestamp(now), zone=c.Zone.GREEN,
    )


def fleet_bundle(device_id: str, snapshot_chunk: int = 768) -> Bundle:
    now = int(time.time())
    fleet = Ed25519PrivateKey.generate()
    issuer = Ed25519PrivateKey.generate()
    pub = raw_public(issuer)
    good = issue(resident(now, bytes.fromhex("0011223344556677")), issuer)
    revoked = issue(resident(now, bytes.fromhex("8899aabbccddeeff")), issuer)
    others = [hashlib.sha256(b"other-%d" % i).digest()[:16] for i in range(300)]
    snapshot, _ = build_snapshot([pass_hash(revoked)] + others)
    trust = cbor2.loads(device_trust_bytes([TrustEntry(ISSUER, kid_for(pub), pub, None)]))
    config = {1: SITE, 2: "BIZ-0001", 3: 25200, 4: False, 5: [], 7: {}}
    iat, until = now - 60, now + 86400
    rev = revocation_body(snapshot, chunk_size=snapshot_chunk)
    messages = [
        (2, env.sign_message(2, 1, trust, env.fleet_scope(), fleet, iat, until)),
        (3, env.sign_message(3, 1, rev, env.fleet_scope(), fleet, iat, until)),
        (1, env.sign_message(1, 1, config, env.device_scope(device_id), fleet, iat, until)),
    ]
    return Bundle(messages, [snapshot], raw_public(fleet), fleet, good, revoked)


def provision(flash: Path, device_id: str, tmp: Path) -> Bundle:
    """Apply a fleet bundle straight onto the flash (as if received earlier)."""
    b = fleet_bundle(device_id)
    root = flash / "control"
    root.mkdir(parents=True, exist_ok=True)
    req = {"root": str(root), "device": device_id, "site": SITE, "now": int(time.time()),
           "fleet_keys": [b.fleet_public.hex()], "messages": [], "blobs": []}
    for i, (kind, data) in enumerate(b.messages):
        p = tmp / f"ctrl{i}.bin"
        p.write_bytes(data)
        req["messages"].append({"kind": kind, "path": str(p)})
    for i, data in enumerate(b.blobs):
        p = tmp / f"blob{i}.bin"
        p.write_bytes(data)
        req["blobs"].append({"path": str(p)})
    assert apply_messages(req) == [True, True, True]
    write_device_config(flash, device_id)
    return b


def write_device_config(flash: Path, device_id: str, fleet_public: bytes | None = None) -> None:
    flash.mkdir(parents=True, exist_ok=True)
    cfg_path = flash / "config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    cfg.update(device_id=device_id, site_id=SITE)
    if fleet_public is not None:
        cfg["fleet_keys"] = [fleet_public.hex()]
    cfg_path.write_text(json.dumps(cfg))
