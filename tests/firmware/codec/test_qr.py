"""verify/qr.py under MicroPython: QR text -> COSE bytes, each failure with
the reason of its layer (PREFIX / BASE45 / INFLATE)."""
import random
import zlib

import cbor2

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def b45(b: bytes) -> str:
    out = []
    for i in range(0, len(b) - 1, 2):
        v = b[i] * 256 + b[i + 1]
        out += [ALPHABET[v % 45], ALPHABET[v // 45 % 45], ALPHABET[v // 2025]]
    if len(b) % 2:
        out += [ALPHABET[b[-1] % 45], ALPHABET[b[-1] // 45]]
    return "".join(out)


def _cose(rng):
    payload = cbor2.dumps({1: "GG", 4: rng.randrange(2**31), 7: bytes(rng.randrange(256) for _ in range(12)),
                           -65537: {1: rng.randrange(5), 2: "NVA", 3: 1980}})
    prot = cbor2.dumps({1: -8, 4: bytes(rng.randrange(256) for _ in range(8))})
    return cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, bytes(rng.randrange(256) for _ in range(64))]))


def _answer(o):
    return ("ok", o["hex"]) if o["ok"] else (o["err"], o["reason"])


def test_unwrap_valid_texts(codec_run):
    rng = random.Random(2021)
    reqs, wants = [], []
    for k in range(60):
        cose = _cose(rng)
        body = zlib.compress(cose, 9) if k % 2 else cose
        text = "GG1:" + b45(body)
        for suffix in ("", "\r", "\n", "\r\n", "\r\n\n"):
            reqs.append({"op": "unwrap", "text": text + suffix, "as_bytes": bool(k % 3 == 0)})
            wants.append(cose)
    # A different prefix is honoured when asked for (the EU scheme).
    reqs.append({"op": "unwrap", "text": "HC1:" + b45(zlib.compress(b"\xd2\x84")), "prefix": "HC1:"})
    wants.append(b"\xd2\x84")
    out = codec_run(reqs)
    for q, want, o in zip(reqs, wants, out):
        assert o["ok"] and o["hex"] == want.hex(), (q, o)


def test_unwrap_rejections_name_the_layer(codec_run):
    cose = _cose(random.Random(1))
    good = b45(cose)
    bomb = zlib.compress(bytes(1_000_000), 9)
    cases = [
        ("GG2:" + good, {}, "PREFIX"),
        ("gg1:" + good, {}, "PREFIX"),
        ("HC1:" + good, {}, "PREFIX"),
        (" GG1:" + good, {}, "PREFIX"),
        ("GG1", {}, "PREFIX"),
        ("", {}, "PREFIX"),
        ("\r\n", {}, "PREFIX"),
        ("GG1:" + good + "a", {}, "BASE45"),                        # lowercase char
        ("GG1:" + good + "\r\nX", {}, "BASE45"),                   # CR/LF inside
        ("GG1:" + good + "A" * ((1 - len(good)) % 3), {}, "BASE45"),  # dangling char
        ("GG1:" + good + "GGW", {}, "BASE45"),                     # triplet > 65535
        ("GG1:Ä" + good, {}, "BASE45"),
        ("GG1:" + "0" * 4500, {}, "BASE45"),                        # longer than any QR
        ("GG1:" + b45(bomb), {}, "INFLATE"),                        # zlib bomb
        ("GG1:" + b45(zlib.compress(cose)[:-3]), {}, "INFLATE"),    # truncated stream
        ("GG1:" + b45(b"\x78" + cose), {}, "INFLATE"),              # 0x78 but not zlib
        ("GG1:" + b45(zlib.compress(cose)), {"cap": len(cose) - 1}, "INFLATE"),
        ("HC1:" + good, {"prefix": "HC1:", "zlib_required": True}, "INFLATE"),
    ]
    reqs = [dict({"op": "unwrap", "text": t}, **kw) for t, kw, _r in cases]
    out = codec_run(reqs)
    for (text, kw, reason), o in zip(cases, out):
        assert (o["ok"], o.get("err"), o.get("reason")) == (False, "DecodeError", reason), (text[:40], kw, o)
    # The exact cap is accepted.
    ok = codec_run([{"op": "unwrap", "text": "GG1:" + b45(zlib.compress(cose)), "cap": len(cose)}])[0]
    assert ok["ok"] and ok["hex"] == cose.hex()


def test_unwrap_same_under_cpython(codec_run, cpython_run):
    rng = random.Random(3)
    reqs = []
    for _ in range(30):
        cose = _cose(rng)
        reqs.append({"op": "unwrap", "text": "GG1:" + b45(zlib.compress(cose))})
        reqs.append({"op": "unwrap", "text": "GG1:" + b45(cose) + "\r\n"})
        reqs.append({"op": "unwrap", "text": "GG1:" + b45(zlib.compress(cose))[:-2]})
    assert [_answer(o) for o in codec_run(reqs)] == [_answer(o) for o in cpython_run(reqs)]
