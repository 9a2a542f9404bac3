"""codec/inflate.py: bounded zlib under MicroPython (deflate.DeflateIO) and
the CPython zlib fallback, on the same cases."""
import random
import zlib

from zlib_kit import fixed_block


def _outcome(o):
    return ("ok", o["hex"]) if o["ok"] else (o["err"], o["reason"])


def _cases():
    rng = random.Random(1950)
    cases = []
    for size in (0, 1, 100, 511, 512, 513, 2048, 5000):
        raw = bytes(rng.randrange(256) for _ in range(size // 2)) + b"GG1" * (size // 6)
        raw = raw[:size]
        level = rng.randrange(0, 10)
        comp = zlib.compress(raw, level)
        n = len(raw)
        cases.append(("exact cap %d" % n, comp, max(n, 1), raw if n else b""))
        if n:
            cases.append(("cap one short %d" % n, comp, n - 1 if n > 1 else 1, None if n > 1 else raw))
        cases.append(("roomy cap %d" % n, comp, n + 1000, raw))
    good = zlib.compress(b"hello device" * 20)
    body = good[2:-4]
    cases += [
        ("bad adler32", good[:-1] + bytes([good[-1] ^ 1]), 4096, None),
        ("bad header check bits", b"\x78\x00" + body + good[-4:], 4096, None),
        ("preset dictionary flag", b"\x78\xbb" + body + good[-4:], 4096, None),
        ("not deflate method", b"\x79\x9c" + body + good[-4:], 4096, None),
        ("raw deflate, no header", body, 4096, None),
        ("gzip, not zlib", bytes.fromhex("1f8b08000000000000ff") + body, 4096, None),
        ("trailing garbage", good + b"xx", 4096, None),
        ("empty input", b"", 4096, None),
        ("header only", good[:2], 4096, None),
        ("reserved block type 3", b"\x78\x9c\x07\x00", 4096, None),
    ]
    cases += [("truncated at %d" % i, good[:i], 4096, None) for i in range(len(good))]
    # Random corruption: either rejected, or (if the flip hit padding bits)
    # the very same output.
    for k in range(200):
        bad = bytearray(good)
        bad[rng.randrange(2, len(bad))] ^= 1 << rng.randrange(8)
        cases.append(("corrupt %d" % k, bytes(bad), 4096, "same-or-fail"))
    return cases, b"hello device" * 20


CASES, CORRUPT_ORIGINAL = _cases()


def _check(cases, out):
    for (name, _data, _cap, want), o in zip(cases, out):
        if want is None:
            assert (o["ok"], o.get("err"), o.get("reason")) == (False, "DecodeError", "INFLATE"), (name, o)
        elif want == "same-or-fail":
            if o["ok"]:
                assert o["hex"] == CORRUPT_ORIGINAL.hex(), name
            else:
                assert (o["err"], o["reason"]) == ("DecodeError", "INFLATE"), (name, o)
        else:
            assert o["ok"] and o["hex"] == want.hex(), (name, o)


def _reqs(cases):
    return [{"op": "inflate", "hex": data.hex(), "cap": cap} for _n, data, cap, _w in cases]


def test_inflate_micropython(codec_run):
    _check(CASES, codec_run(_reqs(CASES)))


def test_inflate_cpython_fallback_agrees(codec_run, cpython_run):
    reqs = _reqs(CASES)
    mp, cp = codec_run(reqs), cpython_run(reqs)
    _check(CASES, cp)
    assert [_outcome(o) for o in mp] == [_outcome(o) for o in cp]


def test_zlib_bomb_stops_at_cap(codec_run):
    heap = "256k"  # holds the request line, never the 10 MB output
    bomb = zlib.compress(bytes(10_000_000), 9)  # 10 MB of zeros in ~10 KB
    assert len(bomb) < 20_000
    reqs = [{"op": "inflate", "hex": bomb.hex(), "cap": cap} for cap in (1, 2048, 16384)]
    out = codec_run(reqs, heap=heap)
    for o in out:
        assert (o["ok"], o["err"], o["reason"]) == (False, "DecodeError", "INFLATE"), o
        assert "exceeds cap" in o["detail"]
    # A full-size window stream (the usual 32 KB) of a small payload still
    # inflates with a small cap: the window follows the cap.
    small = zlib.compress(bytes(range(256)) * 4, 9)
    ok = codec_run([{"op": "inflate", "hex": small.hex(), "cap": 1024}], heap=heap)[0]
    assert ok["ok"] and ok["hex"] == (bytes(range(256)) * 4).hex()


def test_back_reference_beyond_cap_window_is_rejected(codec_run):
    # Output 2000 bytes with a 1000-byte back-reference: fine with cap 2000
    # (window 2048), rejected with cap 1999 (the output would exceed the cap).
    rng = random.Random(7)
    half = bytes(rng.randrange(256) for _ in range(1000))
    comp = zlib.compress(half + half, 9)
    out = codec_run([{"op": "inflate", "hex": comp.hex(), "cap": c} for c in (2000, 1999, 600)])
    assert out[0]["ok"] and out[0]["hex"] == (half + half).hex()
    assert out[1]["reason"] == "INFLATE" and out[2]["reason"] == "INFLATE"


# -- hand-made streams: back-references a compressor never writes ------------
def test_hand_made_stream_is_read_as_written(codec_run):
    comp, raw = fixed_block([("lit", b) for b in b"GG1:"] + [("copy", 4), ("copy", 2)])
    assert zlib.decompress(comp) == raw == b"GG1:GG1G1G"
    assert codec_run([{"op": "inflate", "hex": comp.hex(), "cap": 64}])[0]["hex"] == raw.hex()


def test_distance_beyond_the_window_is_rejected(codec_run, cpython_run):
    # A DCC's window is the cap's (2 KB), not the 32 KB its header asks for:
    # a distance past it, with a short output, is a bad stream on both sides.
    lits = [("lit", b) for b in bytes(range(100))]
    cases = [fixed_block(lits + [("copy", d)])[0] for d in (2049, 3000, 32768)]
    reqs = [{"op": "inflate", "hex": c.hex(), "cap": 2048} for c in cases]
    for o in codec_run(reqs) + cpython_run(reqs):
        assert (o["ok"], o["err"], o["reason"]) == (False, "DecodeError", "INFLATE"), o


def test_distance_before_the_start_of_the_output(codec_run, cpython_run):
    # A distance past the output so far: CPython's zlib refuses it. The
    # device's second pass has a window of the output's size, so one past
    # that is refused too; one inside it reads the zeroed window (uzlib
    # keeps no count of what it filled). Either way the output is fixed by
    # the stream (no other memory is read) and goes on to COSE parsing and
    # the signature check like any payload (tests/firmware/verify/test_hc1.py).
    far, _ = fixed_block([("lit", 0xD2), ("copy", 1000), ("lit", 0x84)])
    near, zeros = fixed_block([("lit", 0xD2)] + [("lit", 0)] * 600 + [("copy", 700)])
    assert zeros == b"\xd2" + bytes(603)
    reqs = [{"op": "inflate", "hex": c.hex(), "cap": 2048} for c in (far, near)]
    assert [_outcome(o) for o in cpython_run(reqs)] == [("DecodeError", "INFLATE")] * 2
    assert [_outcome(o) for o in codec_run(reqs)] == [("DecodeError", "INFLATE"), ("ok", zeros.hex())]
