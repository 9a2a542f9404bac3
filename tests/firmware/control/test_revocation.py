"""The device revocation store under real MicroPython: 1,000,000 entries built
on the host, every member found, false positives within the stated rate,
byte-for-byte agreement with the host reference, deltas, damaged files."""

import random

import pytest
from ctrl_kit import run_driver
from rev_kit import cached_snapshot, key, members

from greengate.control import revocation as rv

SEED = 7
N = 1_000_000
NON_MEMBERS = 200_000


def rev(args, cmds):
    return run_driver("rev_driver.py", [str(a) for a in args], cmds)


def test_million_entry_store_finds_every_member_and_few_others():
    path, info = cached_snapshot(SEED, N)
    assert info.entries == N  # 40-bit fingerprints of 1e6 random hashes: no collision expected
    assert info.bits_per_entry <= 22.0
    assert info.false_positive_rate <= 1e-6
    out = rev([path], [
        {"op": "info"},
        {"op": "range", "tag": "m", "seed": SEED, "first": 0, "n": N},
        {"op": "range", "tag": "o", "seed": SEED, "first": 0, "n": NON_MEMBERS},
    ])
    assert out[0]["entries"] == N and out[0]["bits"] == info.fingerprint_bits
    assert out[1]["hits"] == N
    # expected false positives: 2e5 * 9.1e-7 = 0.18; P(>= 5) < 1e-5
    assert out[2]["hits"] <= 5


@pytest.mark.parametrize(
    "n,eps,block",
    [(0, 1e-6, 1024), (1, 1e-6, 1024), (2, 1e-3, 64), (300, 1e-2, 64),
     (5000, 1e-3, 256), (20000, 1e-6, 1024), (3000, 1e-9, 128)],
)
def test_device_lookup_agrees_with_host_reference(tmp_path, n, eps, block):
    rnd = random.Random(n * 31 + block)
    hashes = [rnd.randbytes(16) for _ in range(n)]
    data, info = rv.build_snapshot(hashes, eps=eps, block_size=block)
    assert info.entries <= n
    path = tmp_path / "snap.ggrv"
    path.write_bytes(data)
    probes = hashes[:400] + [rnd.randbytes(16) for _ in range(1600)]
    # neighbours of members: same fingerprint prefix region, the hard cases
    probes += [h[:6] + rnd.randbytes(10) for h in hashes[:200]]
    probes += [(int.from_bytes(h, "big") + d).to_bytes(16, "big") for h in hashes[:100] for d in (-1, 1)
               if 0 <= int.from_bytes(h, "big") + d < 1 << 128]
    expected = [rv.contains(data, p) for p in probes]
    assert all(expected[: min(n, 400)])
    out = rev([path], [{"op": "has", "hex": [p.hex() for p in probes]}])
    assert out[0]["has"] == expected


def test_delta_adds_and_removes_on_top_of_its_snapshot(tmp_path):
    base = members(11, 1000)
    data, _ = rv.build_snapshot(base, list_version=3)
    snap = tmp_path / "snap.ggrv"
    snap.write_bytes(data)
    added = [key("o", 11, i) for i in range(10)]
    removed = base[:5]
    delta = tmp_path / "delta.ggrd"
    delta.write_bytes(rv.build_delta(added, removed, base_version=3))
    stale_delta = tmp_path / "stale.ggrd"
    stale_delta.write_bytes(rv.build_delta(added, removed, base_version=2))
    probes = added + removed + base[5:50] + [key("x", 11, i) for i in range(50)]
    hexes = [p.hex() for p in probes]
    out = rev([snap, delta], [{"op": "info"}, {"op": "has", "hex": hexes}])
    assert out[0]["delta"] is True
    got = out[1]["has"]
    assert got[:10] == [True] * 10
    assert got[10:15] == [False] * 5
    assert got[15:60] == [True] * 45
    assert got[60:] == [rv.contains(data, p) for p in probes[60:]]
    # a closed store never answers "not revoked"
    out = rev([snap, delta], [{"op": "close"}, {"op": "has", "hex": hexes[:12]}])
    assert out[1]["has"] == [["error", 27]] * 12
    # a delta made for another snapshot version is ignored
    out = rev([snap, stale_delta], [{"op": "info"}, {"op": "has", "hex": hexes}])
    assert out[0]["delta"] is False
    assert out[1]["has"][:15] == [False] * 10 + [True] * 5
    # the host merge is what the next snapshot encodes
    merged = rv.merge(base, added, removed)
    assert set(added) <= merged and not set(removed) & merged
    assert rv.parse_delta(delta.read_bytes()) == (3, sorted(added), sorted(removed))


def test_damaged_files_give_store_errors_not_crashes(tmp_path):
    data, _ = rv.build_snapshot(members(12, 3000), block_size=256)
    probes = [h.hex() for h in members(12, 50)] + [key("o", 12, i).hex() for i in range(50)]
    cases = {
        "truncated index": data[:40],
        "bad magic": b"XXXX" + data[4:],
        "empty": b"",
        "truncated blocks": data[: len(data) - 700],
    }
    rnd = random.Random(5)
    for i in range(6):
        b = bytearray(data)
        for _ in range(40):
            b[rnd.randrange(32 + 4 * 12, len(b))] = rnd.randrange(256)  # keep header, hit blocks
        cases[f"garbled {i}"] = bytes(b)
    for name, blob in cases.items():
        p = tmp_path / f"{name}.ggrv"
        p.write_bytes(blob)
        out = rev([p], [{"op": "info"}])
        if "error" in out[0]:
            assert out[0]["error"][0] in (27, 29), name
            assert not name.startswith("garbled"), name  # header was kept intact
            continue
        out = rev([p], [{"op": "has", "hex": probes}])
        for r in out[0]["has"]:
            assert r in (True, False) or r == ["error", 29], (name, r)
    out = rev([tmp_path / "missing.ggrv"], [{"op": "info"}])
    assert out[0]["error"][0] == 27  # NOT_PROVISIONED
