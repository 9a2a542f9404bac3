"""Host revocation builder: parameters, size, reference lookups, deltas."""

import math
import os
import random
import struct

import pytest

from greengate.control import revocation as rv


def test_parameters_follow_eps():
    assert rv.fingerprint_bits(1_000_000, 1e-6) == 40
    assert rv.fingerprint_bits(1000, 1e-3) == 20
    assert rv.fingerprint_bits(0) == 20
    assert rv.fingerprint_bits(10**12, 1e-9) == 48  # capped
    for bad in (0, 1, -1):
        with pytest.raises(ValueError):
            rv.fingerprint_bits(10, bad)


def test_hundred_thousand_entries_size_and_membership():
    rnd = random.Random(3)
    hashes = [rnd.randbytes(16) for _ in range(100_000)]
    data, info = rv.build_snapshot(hashes, eps=1e-6)
    assert info.size == len(data)
    assert info.fingerprint_bits == math.ceil(math.log2(100_000 / 1e-6))
    assert info.false_positive_rate <= 1e-6
    # within 2 bits of the log2(1/eps) floor for the eps actually reached
    # (F rounds up to whole bits, so eps here is 7.3e-7, not 1e-6)
    assert info.bits_per_entry <= math.log2(1 / info.false_positive_rate) + 2.0
    assert all(rv.contains(data, h) for h in hashes[:3000])
    hits = sum(rv.contains(data, rnd.randbytes(16)) for _ in range(20_000))
    assert hits <= 3  # expected 0.015


def test_header_and_blocks_are_consistent():
    hashes = [os.urandom(16) for _ in range(3000)]
    data, info = rv.build_snapshot(hashes, block_size=128, list_version=9)
    magic, fmt, bits, k, shift, bsize, n, blocks, version = rv.HEADER.unpack_from(data)
    assert (magic, fmt, bsize, n, blocks, version) == (b"GGRV", 1, 128, info.entries, info.blocks, 9)
    assert len(data) == 32 + 4 * blocks + blocks * bsize
    keys = struct.unpack_from(f">{blocks}I", data, 32)
    assert list(keys) == sorted(keys) and all(key < 1 << 30 for key in keys)
    base = 32 + 4 * blocks
    counts = [int.from_bytes(data[base + i * bsize : base + i * bsize + 2], "big") for i in range(blocks)]
    assert sum(counts) == n


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        rv.build_snapshot([b"short"])
    with pytest.raises(ValueError):
        rv.build_snapshot([os.urandom(16)], block_size=32)
    with pytest.raises(ValueError):
        rv.contains(b"XXXX" + bytes(28), os.urandom(16))
    with pytest.raises(ValueError):
        rv.build_delta([b"x"], [], 1)
    good = rv.build_delta([os.urandom(16)], [os.urandom(16)], 4)
    with pytest.raises(ValueError):
        rv.parse_delta(good[:-1])
    with pytest.raises(ValueError):
        rv.parse_delta(b"GGRX" + good[4:])


def test_delta_is_cumulative_and_sorted():
    a = [os.urandom(16) for _ in range(5)]
    r = [os.urandom(16) for _ in range(3)]
    base, added, removed = rv.parse_delta(rv.build_delta(a + a[:2], r + a[:1], 7))
    assert base == 7 and added == sorted(a) and removed == sorted(r)  # added wins
    body = rv.revocation_body(b"snapshot-bytes", rv.build_delta(a, r, 7))
    assert body[1][2] == 14 and body[2][3] == 768
