"""Control kind 7 (DCC signer trust table, gg/v1/fleet/dcc) under MicroPython:
snapshot + delta blobs fetched, checked whole, committed atomically; hostile
messages and tables refused with CTRL_MALFORMED, nothing half-applied."""

import hashlib
import struct
import sys
from pathlib import Path

import pytest
from test_service import DEV, device  # noqa: F401 - `device`: the same fixture
from ctrl_kit import SITE
from greengate.control import blobs
from greengate.control import envelope as env
from greengate.control.dcc import dcc_files

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dcc_kit import fake_signers  # noqa: E402

TOPIC = "gg/v1/fleet/dcc"
MALFORMED, SCOPE = 45, 46


def store_of(*blobs_):
    return {hashlib.sha256(b).digest(): b for b in blobs_ if b}


def body256(snap, delta=None):
    return {1: blobs.blob_ref(snap, 256), 2: blobs.blob_ref(delta, 256) if delta else None}


def test_snapshot_then_delta_applied(device, tmp_path):
    d, fleet, root = device
    old = fake_signers(200, seed=1, rsa_every=9)
    snap, _ = dcc_files(old, 1)
    d.send(TOPIC, fleet.msg(7, 1, body256(snap)))
    out = d.out()
    assert out["applied"] == []  # waits for its blob
    d.serve_fetches(store_of(snap), out)
    assert out["applied"] == [7]
    assert d.out()["state"][3] == {7: 1}

    new = old[20:] + fake_signers(10, seed=2)
    base, delta = dcc_files(new, 2, base=(1, old))
    assert base == snap  # devices already hold it: only the delta travels
    d.send(TOPIC, fleet.msg(7, 2, body256(base, delta)))
    out = d.out()
    d.serve_fetches(store_of(base, delta), out)
    assert out["applied"] == [7]
    final = d.out()
    assert final["state"][3] == {7: 2} and final["state"][12] is None
    names = {f"blob_{h[:8].hex()}.bin" for h in store_of(base, delta)}
    assert names <= set(final["files"])


def test_site_scope_allowed_device_scope_not(device):
    d, fleet, _ = device
    snap, _ = dcc_files(fake_signers(3), 1)
    d.send(TOPIC, fleet.msg(7, 1, body256(snap), scope=env.device_scope("gg-a1b2c3d4e5f6")))
    assert d.out()["state"][12] == [7, SCOPE, 0]
    d.send(TOPIC, fleet.msg(7, 1, body256(snap), scope=env.site_scope(SITE)))
    out = d.out()
    d.serve_fetches(store_of(snap), out)
    assert out["applied"] == [7]


@pytest.mark.parametrize("body", [
    [], {}, {1: None}, {1: {1: b"x" * 31, 2: 10, 3: 256}}, {1: {1: b"x" * 32, 2: 0, 3: 256}},
    {1: {1: b"x" * 32, 2: 10, 3: 256}, 2: "delta"}, "snapshot",
    {1: {1: b"x" * 32, 2: 8 * 1024 * 1024 + 1, 3: 256}},   # over the blob cap
    {1: {1: b"x" * 32, 2: 10, 3: 4096}},                   # chunk size over 1 KiB
    {1: {1: b"x" * 32, 2: 10, 3: 256}, 2: {1: b"y" * 32, 2: -1, 3: 256}},
])
def test_malformed_bodies_refused(device, body):
    d, fleet, root = device
    d.send(TOPIC, fleet.msg(7, 1, body))
    out = d.out()
    assert out["state"][12] == [7, MALFORMED, 0] and out["applied"] == []
    assert not [p for t, p, _ in out["pub"] if t == DEV + "fetch"]


def _bad_tables():
    good, _ = dcc_files(fake_signers(30, seed=5, rsa_every=4), 3)
    b = bytearray(good)
    b[32:48], b[48:64] = good[48:64], good[32:48]
    yield "unsorted", good.__class__(b), None
    b = bytearray(good)
    b[48:56] = good[32:40]
    yield "duplicate kid", bytes(b), None
    yield "huge count", good[:8] + struct.pack(">I", 1 << 30) + good[12:], None
    yield "truncated", good[:-7], None
    yield "not a table", b"hello world" * 10, None
    old = fake_signers(30, seed=5, rsa_every=4)
    _, delta = dcc_files(old[3:], 4, base=(2, old))  # made for version 2, snapshot is 3
    yield "delta for another snapshot", good, delta
    yield "snapshot as delta", good, good[:5] + b"\x01" + good[6:]


BAD = list(_bad_tables())


@pytest.mark.parametrize("name, snap, delta", BAD, ids=[b[0] for b in BAD])
def test_hostile_tables_refused_and_the_applied_one_stays(device, name, snap, delta):
    d, fleet, root = device
    good, _ = dcc_files(fake_signers(12, seed=9), 1)
    d.send(TOPIC, fleet.msg(7, 1, body256(good)))
    out = d.out()
    d.serve_fetches(store_of(good), out)
    assert out["applied"] == [7]
    state_file = (root / "ctrl_7.bin").read_bytes()

    d.send(TOPIC, fleet.msg(7, 2, body256(snap, delta)))
    out = d.out()
    d.serve_fetches(store_of(snap, delta), out)
    assert out["applied"] == []
    final = d.out()
    assert final["state"][12] == [7, MALFORMED, 2], name
    assert final["state"][3] == {7: 1}
    assert (root / "ctrl_7.bin").read_bytes() == state_file  # nothing half-applied
    files = set(final["files"])
    assert f"blob_{hashlib.sha256(good).digest()[:8].hex()}.bin" in files  # still in use
    for b in (snap, delta):
        if b and b != good:
            assert f"blob_{hashlib.sha256(b).digest()[:8].hex()}.bin" not in files
    assert not [f for f in files if f.endswith(".part")]
