"""The device revocation store under real MicroPython: 1,000,000 entries built
on the host, every member found, false positives within the stated rate,
byte-for-byte agreement with the host reference at every boundary of the
sparse in-RAM index (slices of the on-flash block index), deltas, damaged
files (refused when opened, or a StoreError for the lookup: never a silent
"not revoked")."""

import bisect
import random
import struct

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
    blocks_at = rv.HEADER.size + 4 * rv.HEADER.unpack_from(data)[7]
    for i in range(6):
        b = bytearray(data)
        for _ in range(40):
            b[rnd.randrange(blocks_at, len(b))] = rnd.randrange(256)  # keep header + index, hit blocks
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


def _hash_of(fp: int, bits: int, rnd: random.Random) -> bytes:
    """A pass hash whose fingerprint is fp (random low bits)."""
    return ((fp << (128 - bits)) | rnd.getrandbits(128 - bits)).to_bytes(16, "big")


def _layout(data: bytes):
    """(bits, shift, index keys, first fingerprint of each block, blocks offset)."""
    _m, _f, bits, _k, shift, bsize, _n, nblocks, _v = rv.HEADER.unpack_from(data)
    keys = list(struct.unpack_from(f">{nblocks}I", data, rv.HEADER.size))
    base = rv.HEADER.size + 4 * nblocks
    vb = (bits + 7) // 8
    firsts = [int.from_bytes(data[base + j * bsize + 2: base + j * bsize + 2 + vb], "big")
              for j in range(nblocks)]
    return bits, shift, keys, firsts, base


def _clustered(rnd: random.Random, n: int) -> list[bytes]:
    # top 30 bits shared by many hashes: with F = 48 (key_shift 18) many
    # blocks carry the same index key, so lookups walk back across blocks
    # (and across index slices)
    out = []
    for i in range(n):
        top = (0x2AAAAAAA, 0x2AAAAAAB, 0x15555555, rnd.getrandbits(30))[i % 4]
        out.append(((top << 98) | rnd.getrandbits(98)).to_bytes(16, "big"))
    return out


@pytest.mark.parametrize(
    "n,eps,block,clustered",
    [(1, 1e-6, 1024, False), (10, 1e-6, 1024, False), (2000, 1e-3, 64, False),
     (2000, 1e-12, 64, True)],
)
def test_every_boundary_of_the_sparse_index(tmp_path, n, eps, block, clustered):
    rnd = random.Random(n + block)
    hashes = _clustered(rnd, n) if clustered else [rnd.randbytes(16) for _ in range(n)]
    data, info = rv.build_snapshot(hashes, eps=eps, block_size=block)
    path = tmp_path / "snap.ggrv"
    path.write_bytes(data)
    bits, _shift, keys, firsts, _ = _layout(data)
    if clustered:
        assert len(set(keys)) < len(keys) - 10  # many blocks share an index key
    if n == 10:
        assert info.blocks == 1
    # every fingerprint and its two neighbours: each block's first and last
    # value and the gaps between blocks; the extremes of the value range
    values = sorted({rv.fingerprint(h, bits) for h in hashes})
    fps = {0, (1 << bits) - 1}
    for v in values:
        fps.update(x for x in (v - 1, v, v + 1) if 0 <= x < 1 << bits)
    probes = hashes + [_hash_of(fp, bits, rnd) for fp in sorted(fps)]
    expected = [rv.contains(data, p) for p in probes]
    assert all(expected[:n])
    hexes = [p.hex() for p in probes]
    nb = info.blocks
    strides = sorted({1, 2, 3, 5, 16, max(1, nb - 1), nb, nb + 1})
    cmds = []
    for stride in strides + [0]:
        cmds += [{"op": "reopen", "stride": stride}, {"op": "has", "hex": hexes}]
    out = rev([path], cmds)
    for i, stride in enumerate(strides + [0]):
        opened, got = out[2 * i], out[2 * i + 1]
        assert opened["blocks"] == nb
        if stride:
            assert opened["stride"] == stride and opened["slices"] == -(-nb // stride)
        assert got["has"] == expected, stride


def test_damaged_index_or_size_is_refused_at_open(tmp_path):
    data, info = rv.build_snapshot(members(13, 3000), block_size=128)
    assert info.blocks > 20
    idx = rv.HEADER.size
    swapped = bytearray(data)  # two keys out of order
    swapped[idx + 4 * 10: idx + 4 * 12] = data[idx + 4 * 11: idx + 4 * 12] + data[idx + 4 * 10: idx + 4 * 11]
    huge = bytearray(data)  # last key >= 2**31
    huge[idx + 4 * (info.blocks - 1)] |= 0x80
    cases = {"swapped": (bytes(swapped), "index"), "huge key": (bytes(huge), "index"),
             "one byte more": (data + b"\x00", "size"), "one byte less": (data[:-1], "size"),
             "index only": (data[: idx + 4 * info.blocks], "size")}
    for name, (blob, detail) in cases.items():
        p = tmp_path / "bad.ggrv"
        p.write_bytes(blob)
        out = rev([p], [{"op": "info"}])
        # INTERNAL: refused, so load_decider gives no decider and every pass is refused
        assert out[0]["error"][0] == 29, name
        assert detail in out[0]["error"][1], name


def test_file_cut_after_opening_gives_errors_never_not_revoked(tmp_path):
    # fail closed: a lookup that needs a block the file no longer has raises
    # StoreError (the decider answers INTERNAL: deny), it never says "absent"
    hashes = members(14, 3000)
    others = [key("o", 14, i) for i in range(1000)]
    data, info = rv.build_snapshot(hashes, block_size=128)
    bits, _shift, _keys, firsts, base = _layout(data)
    cut = info.blocks // 2
    path = tmp_path / "snap.ggrv"
    path.write_bytes(data)
    out = rev([path], [{"op": "truncate", "size": base + cut * info.block_size},
                       {"op": "has", "hex": [h.hex() for h in hashes + others]}])
    for h, got in zip(hashes + others, out[1]["has"]):
        j = bisect.bisect_right(firsts, rv.fingerprint(h, bits)) - 1
        if j >= cut:
            assert got == ["error", 29]
        elif h in hashes:
            assert got is True
        else:
            assert got == rv.contains(data, h)
