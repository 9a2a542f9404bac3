"""codec/cbor.py under MicroPython: RFC 8949 Appendix A, limits, truncation,
trailing bytes, profile rejections, and a differential fuzz against cbor2."""
import io
import json
import math
import random
import struct

import cbor2
import pytest

from mpy import TESTDATA

APPENDIX = json.loads((TESTDATA / "cbor" / "appendix_a.json").read_text())

# Entries our profile rejects on purpose (checked: CBORError, not a crash).
REJECTED = {
    # RFC 8949 section 3.3: a simple value below 32 in the two-byte form
    # (0xf8 0x18) is not well-formed; RFC 7049 still listed it as simple(24).
    "f818": "simple value 24 in two bytes",
}

# The values the `diagnostic`-only entries describe, written out by hand.
INF = float("inf")
DIAGNOSTIC = {
    "Infinity": INF,
    "-Infinity": -INF,
    "NaN": float("nan"),
    "undefined": cbor2.undefined,
    "simple(16)": cbor2.CBORSimpleValue(16),
    "simple(255)": cbor2.CBORSimpleValue(255),
    '0("2013-03-21T20:04:00Z")': cbor2.CBORTag(0, "2013-03-21T20:04:00Z"),
    "1(1363896240)": cbor2.CBORTag(1, 1363896240),
    "1(1363896240.5)": cbor2.CBORTag(1, 1363896240.5),
    "23(h'01020304')": cbor2.CBORTag(23, bytes.fromhex("01020304")),
    "24(h'6449455446')": cbor2.CBORTag(24, bytes.fromhex("6449455446")),
    '32("http://www.example.com")': cbor2.CBORTag(32, "http://www.example.com"),
    "h''": b"",
    "h'01020304'": bytes.fromhex("01020304"),
    "{1: 2, 3: 4}": {1: 2, 3: 4},
    "(_ h'0102', h'030405')": bytes.fromhex("0102030405"),
}


def test_appendix_a_every_example(codec_run, model_of, canonical):
    out = codec_run([{"op": "cbor", "hex": e["hex"]} for e in APPENDIX])
    checked_rt = 0
    for e, o in zip(APPENDIX, out):
        h = e["hex"]
        if h in REJECTED:
            assert (o["ok"], o["err"]) == (False, "CBORError"), (h, o)
            assert o["detail"] == REJECTED[h]
            continue
        assert o["ok"], (h, o)
        want = e["decoded"] if "decoded" in e else DIAGNOSTIC[e["diagnostic"]]
        assert canonical(o["model"]) == model_of(want), h
        if e["roundtrip"]:
            assert o.get("dumps") == h, (h, o)
            checked_rt += 1
    assert checked_rt == sum(1 for e in APPENDIX if e["roundtrip"] and e["hex"] not in REJECTED)


def _err(o):
    return (o["ok"], o.get("err"))


def test_deep_nesting_rejected_without_recursion_error(codec_run):
    out = codec_run([
        {"op": "cbor_deep", "n": 1000},
        {"op": "cbor_deep", "n": 1000, "indef": True},
        {"op": "cbor", "hex": "c6" * 1000 + "00"},           # 1000 nested tags
        {"op": "cbor", "hex": "a100" * 1000 + "00"},         # 1000 nested maps
        {"op": "cbor_deep", "n": 16},                        # the limit itself
        {"op": "cbor_deep", "n": 17},
        {"op": "cbor", "hex": "81" * 4 + "00", "limits": {"max_depth": 4}},
        {"op": "cbor", "hex": "81" * 5 + "00", "limits": {"max_depth": 4}},
        # the bound of 16 is the C stack's (see test_nesting_fits_the_esp32_stack)
        {"op": "cbor", "hex": "00", "limits": {"max_depth": 17}},
    ])
    for o in out[:4]:
        assert _err(o) == (False, "CBORError") and "nesting" in o["detail"], o
    assert out[4]["ok"]
    assert _err(out[5]) == (False, "CBORError")
    assert out[6]["ok"]
    assert _err(out[7]) == (False, "CBORError") and "nesting" in out[7]["detail"]
    assert _err(out[8]) == (False, "ValueError")


HUGE = [
    "5b0000000100000000414243",   # bstr of 2^32 bytes, 3 bytes present
    "7b0000000100000000414243",   # tstr of 2^32 bytes
    "5bffffffffffffffff00",       # bstr of 2^64-1 bytes
    "5affffffff00",
    "9b000000010000000000",       # array of 2^32 items
    "9affffffff00",
    "bb000000010000000000",       # map of 2^32 pairs
    "ba7fffffff0000",
    "5f5bffffffffffffffff00ff",   # huge chunk inside an indefinite string
    "99ffff" + "00" * 10,
]


def test_huge_declared_lengths_rejected_before_allocating(codec_run):
    # A 256 KB heap: allocating any of these lengths would raise MemoryError.
    out = codec_run([{"op": "cbor", "hex": h} for h in HUGE], heap="256k")
    for h, o in zip(HUGE, out):
        assert _err(o) == (False, "CBORError") and "exceeds input" in o["detail"], (h, o)


def test_item_and_size_limits(codec_run):
    many = "991388" + "00" * 5000              # 5000-item array
    many_indef = "9f" + "00" * 5000 + "ff"
    big_bstr = "5a00011170" + "00" * 70000     # 70000-byte string
    out = codec_run([
        {"op": "cbor", "hex": many},
        {"op": "cbor", "hex": many, "limits": {"max_items": 5001}},
        {"op": "cbor", "hex": many, "limits": {"max_items": 5000}},
        {"op": "cbor", "hex": many_indef},
        {"op": "cbor", "hex": big_bstr},
        {"op": "cbor", "hex": big_bstr, "limits": {"max_bytes": 70005}},
    ])
    assert _err(out[0]) == (False, "CBORError") and "too many items" in out[0]["detail"]
    assert out[1]["ok"] and len(out[1]["model"][1]) == 5000
    assert _err(out[2]) == (False, "CBORError")  # 5000 elements + the array itself
    assert _err(out[3]) == (False, "CBORError") and "too many items" in out[3]["detail"]
    assert _err(out[4]) == (False, "CBORError") and "longer than" in out[4]["detail"]
    assert out[5]["ok"]


def _eu_payloads(step=12):
    payloads = []
    files = sorted((TESTDATA / "eu-dcc").rglob("*.json"))
    for f in files[::step]:
        j = json.loads(f.read_text())
        if "COSE" not in j:
            continue
        try:
            obj = cbor2.loads(bytes.fromhex(j["COSE"]))
        except cbor2.CBORDecodeError:  # common/CBO2.json: broken on purpose
            continue
        while isinstance(obj, cbor2.CBORTag):
            obj = obj.value
        if isinstance(obj, (list, tuple)) and len(obj) == 4:
            payloads.append(obj[2].hex())
    return payloads


def _valid_seeds():
    seeds = [e["hex"] for e in APPENDIX if e["hex"] not in REJECTED]
    return seeds + _eu_payloads()


def test_truncation_at_every_offset_rejected(codec_run):
    seeds = _valid_seeds()
    assert len(seeds) > 100
    out = codec_run([{"op": "cbor_truncations", "hex": h} for h in seeds])
    for h, o in zip(seeds, out):
        assert o["ok"] and o["n"] == len(h) // 2
        assert o["bad"] == [], (h, o["bad"])


def test_trailing_bytes_rejected(codec_run):
    seeds = _valid_seeds()
    out = codec_run([{"op": "cbor", "hex": h + t} for h in seeds for t in ("00", "ff", "a0")])
    for o in out:
        assert _err(o) == (False, "CBORError") and "trailing" in o["detail"], o


PROFILE_REJECTS = {
    "a201000100": "duplicate map key",
    "a2616100616100": "duplicate map key",
    "bf01000100ff": "duplicate map key",
    "a2410000410000": "duplicate map key",
    "a1f500": "map key of type",
    "a1f600": "map key of type",
    "a1f93c0000": "map key of type",
    "a1800000": "map key of type",
    "a1a00000": "map key of type",
    "a1c10000": "map key of type",
    "1c": "reserved additional information",
    "1d": "reserved additional information",
    "fe": "reserved additional information",
    "1f": "indefinite length on major type 0",
    "3f": "indefinite length on major type 1",
    "df00": "indefinite length on major type 6",
    "ff": "unexpected break",
    "8201ff": "unexpected break",
    "f800": "simple value 0 in two bytes",
    "f81f": "simple value 31 in two bytes",
    "5f01ff": "bad chunk",
    "5f5f4100ffff": "bad chunk",
    "7f4100ff": "bad chunk",
    "5f41": "string length 1 exceeds input",
    "61ff": "invalid UTF-8",
    "62c080": "invalid UTF-8",        # overlong NUL
    "63eda080": "invalid UTF-8",      # surrogate U+D800
    "64f4908080": "invalid UTF-8",    # above U+10FFFF
    "62e282": "invalid UTF-8",        # truncated sequence
    "7f62c3ff": "invalid UTF-8",
    "c201": "bignum tag 2 needs a byte string",
    "c3f6": "bignum tag 3 needs a byte string",
    "c25841" + "01" * 65: "bignum longer than",
}


def test_profile_rejections(codec_run):
    cases = list(PROFILE_REJECTS)
    out = codec_run([{"op": "cbor", "hex": h} for h in cases])
    for h, o in zip(cases, out):
        assert _err(o) == (False, "CBORError"), (h, o)
        assert o["detail"].startswith(PROFILE_REJECTS[h]) or PROFILE_REJECTS[h] in o["detail"], (h, o)
    # Valid UTF-8 edges are accepted.
    ok = codec_run([{"op": "cbor", "hex": h} for h in ("63efbfbf", "64f48fbfbf", "63ed9fbf", "62c280")])
    assert all(o["ok"] for o in ok), ok


# -- differential fuzz against cbor2 ---------------------------------------
def _keep_tag(tag):
    return lambda value, *_: cbor2.CBORTag(tag, value)


# cbor2 interprets many tags (datetimes, fractions, sets, ...); we keep every
# tag but the bignums as Tag(), so switch its interpretation off for a raw
# comparison.
RAW_TAGS = {t: _keep_tag(t) for t in [0, 1] + list(range(4, 300)) + [1004, 1040, 25441, 55799]}


def host_decode(data: bytes, allow_duplicate_keys=True):
    """cbor2 as the reference: (True, value) or (False, reason)."""
    fp = io.BytesIO(data)
    try:
        v = cbor2.CBORDecoder(fp, semantic_decoders=RAW_TAGS,
                              allow_duplicate_keys=allow_duplicate_keys).decode()
    except Exception as e:  # cbor2 raises several classes
        return False, repr(e)
    if fp.tell() != len(data):
        return False, "trailing"
    return True, v


# Where we may refuse what cbor2 accepts: our documented profile limits.
OUR_STRICTER = ("duplicate map key", "map key of type", "nesting deeper", "too many items",
                "bignum longer than")


def _mutate(rng, b: bytes) -> bytes:
    b = bytearray(b)
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(5)
        if kind == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif kind == 2 and len(b) > 1:
            del b[rng.randrange(len(b))]
        elif kind == 3 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 4 and b:
            b[rng.randrange(len(b))] = rng.choice((0x1f, 0x5f, 0x7f, 0x9f, 0xbf, 0xff, 0xf9, 0xfa, 0xfb, 0xc2, 0xd8))
    return bytes(b)


def _fuzz_inputs():
    rng = random.Random(8949)
    seeds = [bytes.fromhex(h) for h in _valid_seeds()]
    inputs = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24))) for _ in range(1500)]
    return inputs + [_mutate(rng, rng.choice(seeds)) for _ in range(4500)]


def test_fuzz_only_cborerror_and_agrees_with_cbor2(codec_run, model_of, canonical):
    inputs = _fuzz_inputs()
    out = codec_run([{"op": "cbor", "hex": b.hex()} for b in inputs])
    stats = {"both_ok": 0, "both_reject": 0, "stricter": 0}
    for data, o in zip(inputs, out):
        if not o["ok"]:
            assert o["err"] == "CBORError" and o["reason"] == "CBOR", (data.hex(), o)
        ok, host = host_decode(data)
        if o["ok"]:
            assert ok, (data.hex(), o["model"], host)
            assert canonical(o["model"]) == model_of(host), data.hex()
            stats["both_ok"] += 1
        elif ok:
            assert any(s in o["detail"] for s in OUR_STRICTER), (data.hex(), o, host)
            if "duplicate" in o["detail"]:
                assert not host_decode(data, allow_duplicate_keys=False)[0]
            stats["stricter"] += 1
        else:
            stats["both_reject"] += 1
    assert stats["both_ok"] > 500 and stats["both_reject"] > 1000, stats


def test_cpython_path_agrees_with_micropython(codec_run, cpython_run, canonical):
    # The module's CPython branch (host tools) must decode exactly like the
    # device: same values, same rejections with the same detail.
    reqs = [{"op": "cbor", "hex": b.hex()} for b in _fuzz_inputs()]
    reqs += [{"op": "cbor", "hex": h} for h in PROFILE_REJECTS]
    mp, cp = codec_run(reqs), cpython_run(reqs)
    for q, a, b in zip(reqs, mp, cp):
        for o in (a, b):  # MicroPython dicts do not keep insertion order
            if "model" in o:
                o["model"] = canonical(o["model"])
        assert a == b, q


def test_accepts_bytes_like_input_only(codec_run):
    out = codec_run([{"op": "cbor", "hex": "83010203", "as": t} for t in ("bytearray", "memoryview", "str")])
    assert out[0]["ok"] and out[1]["ok"]
    assert _err(out[2]) == (False, "CBORError")


# -- encoder ------------------------------------------------------------------
def _rand_value(rng, depth=0):
    kinds = ["int", "bigint", "neg", "bytes", "str", "float", "bool", "none", "simple"]
    if depth < 4:
        kinds += ["list", "map", "tag"]
    k = rng.choice(kinds)
    if k == "int":
        return rng.choice([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, rng.randrange(2**rng.randrange(1, 64))])
    if k == "bigint":
        return rng.choice([1, -1]) * (2**64 + rng.randrange(2**rng.randrange(1, 200)))
    if k == "neg":
        return -1 - rng.randrange(2**rng.randrange(1, 64))
    if k == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 23, 24, 300])))
    if k == "str":
        return "".join(rng.choice("aZ09 éữ水😀") for _ in range(rng.randrange(0, 30)))
    if k == "float":
        return rng.choice([0.0, -0.0, 1.0, 1.5, 65504.0, 65505.0, 100000.0, 5.960464477539063e-08,
                           6.103515625e-05, 3.4028234663852886e38, 1e300, 1.1, -4.1, INF, -INF,
                           float("nan"), rng.random(), float(rng.randrange(-70000, 70000)) / 8])
    if k == "bool":
        return rng.random() < 0.5
    if k == "none":
        return None
    if k == "simple":
        return cbor2.CBORSimpleValue(rng.choice([0, 16, 19, 32, 255]))
    if k == "list":
        return [_rand_value(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    if k == "map":
        m = {}
        for _ in range(rng.randrange(0, 6)):
            key = rng.choice([rng.randrange(-1000, 1000), "k%d" % rng.randrange(300),
                              bytes([rng.randrange(256)]) * rng.randrange(3), -65537])
            m[key] = _rand_value(rng, depth + 1)
        return m
    return cbor2.CBORTag(rng.choice([0, 1, 18, 32, 61, 1000, 2**40]), _rand_value(rng, depth + 1))


def _check_deterministic(b: bytes) -> None:
    """RFC 8949 section 4.2.1: shortest heads, definite lengths, sorted keys,
    shortest floats. Raises AssertionError if `b` is not deterministic."""
    pos = 0

    def head():
        nonlocal pos
        ib = b[pos]
        pos += 1
        mt, ai = ib >> 5, ib & 31
        assert ai != 31, "indefinite length"
        if mt == 7:
            return mt, ai, None
        if ai < 24:
            return mt, ai, ai
        size = 1 << (ai - 24)
        arg = int.from_bytes(b[pos:pos + size], "big")
        pos += size
        assert arg >= (24 if size == 1 else 1 << (4 * size)), "non-shortest argument"
        return mt, ai, arg

    def item():
        nonlocal pos
        start = pos
        mt, ai, arg = head()
        if mt in (2, 3):
            pos += arg
        elif mt == 4:
            for _ in range(arg):
                item()
        elif mt == 5:
            last = None
            for _ in range(arg):
                k0 = pos
                item()
                key = b[k0:pos]
                assert last is None or key > last, "map keys not sorted bytewise"
                last = key
                item()
        elif mt == 6:
            if arg in (2, 3):
                assert b[pos] >> 5 == 2
            item()
        elif mt == 7:
            if ai == 24:
                pos += 1
            elif ai in (25, 26, 27):
                size = {25: 2, 26: 4, 27: 8}[ai]
                raw = b[pos:pos + size]
                pos += size
                value = cbor2.loads(bytes([b[start]]) + raw)
                if ai > 25 and not math.isnan(value):
                    shorter = ">e" if ai == 26 else ">f"
                    try:
                        fits = struct.unpack(shorter, struct.pack(shorter, value))[0] == value
                    except (OverflowError, struct.error):
                        fits = False
                    assert not fits, "float not in its shortest form"
                if math.isnan(value):
                    assert b[start:pos] == bytes.fromhex("f97e00")
        return

    item()
    assert pos == len(b), "trailing bytes"


def test_dumps_deterministic_and_decodable(codec_run, model_of, raw_model):
    rng = random.Random(42)
    values = [_rand_value(rng) for _ in range(600)]
    out = codec_run([{"op": "dumps_model", "model": raw_model(v)} for v in values])
    for v, o in zip(values, out):
        assert o["ok"], o
        enc = bytes.fromhex(o["hex"])
        _check_deterministic(enc)
        ok, host = host_decode(enc)
        assert ok and model_of(host) == model_of(v)
    # decode(encode(x)) through the device decoder is the identity too.
    back = codec_run([{"op": "cbor", "hex": o["hex"], "limits": {"max_depth": 16}} for o in out])
    for o, b in zip(out, back):
        assert b["ok"] and b["dumps"] == o["hex"]


def _nested(n):
    # n lists around a null, built by the driver in a loop (a model nested n
    # deep would recurse n times in the driver itself, not in the codec)
    return ["nested", n, ["null"]]


def test_dumps_nesting_bound(codec_run):
    # 16 levels encode (and decode back), the 17th is the codec's error
    ok, too_deep = codec_run([{"op": "dumps_model", "model": _nested(n)} for n in (16, 17)])
    assert ok["ok"] and ok["hex"] == "81" * 16 + "f6"
    assert _err(too_deep) == (False, "CBORError") and "nesting" in too_deep["detail"]
    assert codec_run([{"op": "cbor", "hex": ok["hex"]}])[0]["ok"]


# C stack the codec may use below its caller at its nesting bound. An ESP32's
# MicroPython task has 16 KB (less the port's 1 KB margin) for everything:
# asyncio, the services, the caller. Measured on the 32-bit build: ~210 B a
# level encoding, ~240 B decoding, ~4.6 KB at 16 levels; the 64-bit build's
# frames hold 8-byte words (~1.4x). docs/cbor-profile.md "Stack".
STACK_BUDGET = {32: 6144, 64: 9216}


@pytest.mark.parametrize("direction", ["enc", "dec"])
def test_nesting_fits_the_esp32_stack(codec_run, direction):
    kinds = ["list", "map", "tag"] + (["indef"] if direction == "dec" else [])
    out = codec_run([{"op": "cbor_stack", "dir": direction, "n": n, "kind": k}
                     for k in kinds for n in (1, 16)])
    for i, k in enumerate(kinds):
        one, full = out[2 * i], out[2 * i + 1]
        assert one["ok"] and full["ok"], (one, full)
        assert full["stack"] <= STACK_BUDGET[full["bits"]], (k, full)
        # each level costs something: the reading is real
        assert full["stack"] - one["stack"] >= 15 * 64, (k, one, full)


def test_dumps_rejects_unencodable(codec_run):
    # A 70-level nested list exceeds the encoder's depth bound (cycle guard).
    deep = _nested(70)
    bad = [deep, ["tag", 2**64, ["null"]], ["tag", -1, ["null"]], ["simple", 24], ["simple", 256],
           ["simple", 21]]
    out = codec_run([{"op": "dumps_model", "model": m} for m in bad])
    for m, o in zip(bad, out):
        assert _err(o) == (False, "CBORError"), (m, o)
