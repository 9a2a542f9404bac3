"""codec/base45.py under MicroPython: RFC 9285 examples, differential
round-trips against a host reference, and every class of invalid input."""
import random

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def host_encode(b: bytes) -> str:
    out = []
    for i in range(0, len(b) - 1, 2):
        v = b[i] * 256 + b[i + 1]
        c, v = v % 45, v // 45
        d, e = v % 45, v // 45
        out += [ALPHABET[c], ALPHABET[d], ALPHABET[e]]
    if len(b) % 2:
        v = b[-1]
        out += [ALPHABET[v % 45], ALPHABET[v // 45]]
    return "".join(out)


def host_decode(s: str):
    """Reference decoder: bytes, or None if s is not valid base45."""
    if any(ch not in ALPHABET for ch in s) or len(s) % 3 == 1:
        return None
    out = bytearray()
    for i in range(0, len(s), 3):
        group = [ALPHABET.index(ch) for ch in s[i:i + 3]]
        v = sum(d * 45**k for k, d in enumerate(group))
        if len(group) == 3:
            if v > 0xFFFF:
                return None
            out += bytes((v >> 8, v & 0xFF))
        else:
            if v > 0xFF:
                return None
            out.append(v)
    return bytes(out)


RFC_EXAMPLES = [  # RFC 9285 section 4.3 / 4.4
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


def test_rfc9285_examples(codec_run):
    reqs = []
    for raw, text in RFC_EXAMPLES:
        reqs.append({"op": "b45enc", "hex": raw.hex()})
        reqs.append({"op": "b45dec", "s": text})
        reqs.append({"op": "b45dec", "s": text, "as_bytes": True})
    out = codec_run(reqs)
    for k, (raw, text) in enumerate(RFC_EXAMPLES):
        enc, dec, dec_b = out[3 * k: 3 * k + 3]
        assert enc == {"ok": True, "s": text, "id": 3 * k}
        assert dec["ok"] and bytes.fromhex(dec["hex"]) == raw
        assert dec_b["ok"] and bytes.fromhex(dec_b["hex"]) == raw
    # RFC 9285 section 4.4: "GGW" decodes to 65536, which is invalid.
    bad = codec_run([{"op": "b45dec", "s": "GGW"}])[0]
    assert bad["err"] == "DecodeError" and bad["reason"] == "BASE45"


def test_random_roundtrips_match_host_reference(codec_run):
    rng = random.Random(45)
    blobs = [bytes(rng.randrange(256) for _ in range(n)) for n in list(range(0, 40)) + [rng.randrange(0, 400) for _ in range(400)]]
    reqs = []
    for b in blobs:
        reqs.append({"op": "b45enc", "hex": b.hex()})
        reqs.append({"op": "b45dec", "s": host_encode(b)})
    out = codec_run(reqs)
    for i, b in enumerate(blobs):
        enc, dec = out[2 * i], out[2 * i + 1]
        assert enc["s"] == host_encode(b), b.hex()
        assert dec["ok"] and dec["hex"] == b.hex()


def test_every_invalid_class_rejected(codec_run):
    cases = {
        # characters outside the alphabet (lowercase, control, other ASCII, non-ASCII)
        "lowercase": "bb8", "newline": "BB8\n", "hash": "B#8", "nul": "BB\x00",
        "non_ascii": "BBÄ", "tab_in_pair": "A\t", "equals": "BB8==",
        # a dangling single character
        "dangling_1": "A", "dangling_4": "BB8A", "dangling_7": "%69 VD9",
        # triplets above 65535 (smallest and largest)
        "triplet_65536": "GGW", "triplet_max": ":::",
        # final pair above 255
        "pair_256": "V5", "pair_max": "::",
    }
    names = list(cases)
    out = codec_run([{"op": "b45dec", "s": cases[n]} for n in names])
    for name, o in zip(names, out):
        assert not o["ok"], name
        assert (o["err"], o["reason"]) == ("DecodeError", "BASE45"), (name, o)
    # Exact boundaries are accepted.
    ok = codec_run([{"op": "b45dec", "s": "FGW"}, {"op": "b45dec", "s": "U5"}])
    assert ok[0]["hex"] == "ffff" and ok[1]["hex"] == "ff"


def test_random_strings_agree_with_reference(codec_run):
    rng = random.Random(9285)
    pool = ALPHABET + "abc#\n~é"
    texts = []
    for _ in range(3000):
        n = rng.randrange(0, 12)
        chars = pool if rng.random() < 0.3 else ALPHABET
        texts.append("".join(rng.choice(chars) for _ in range(n)))
    out = codec_run([{"op": "b45dec", "s": t} for t in texts])
    valid = 0
    for t, o in zip(texts, out):
        want = host_decode(t)
        if want is None:
            assert (o["ok"], o.get("reason")) == (False, "BASE45"), (t, o)
        else:
            valid += 1
            assert o["ok"] and o["hex"] == want.hex(), t
    assert 0 < valid < len(texts)  # both classes exercised


def test_cpython_path_agrees_with_micropython(codec_run, cpython_run):
    # base45 has a viper kernel on the device and a plain loop on CPython.
    rng = random.Random(3)
    reqs = [{"op": "b45dec", "s": "".join(rng.choice(ALPHABET + "a~") for _ in range(rng.randrange(0, 30)))}
            for _ in range(1500)]
    reqs += [{"op": "b45enc", "hex": bytes(rng.randrange(256) for _ in range(rng.randrange(0, 50))).hex()}
             for _ in range(300)]
    assert codec_run(reqs) == cpython_run(reqs)


def test_reverse_table_matches_the_alphabet():
    # _REV is a literal bytes table (flash when frozen): every byte value
    # maps to its alphabet index, everything else to 0xFF
    from mpy import run_micropython

    r = run_micropython("from codec import base45 as b\nprint(bytes(b._REV).hex(), b._ALPHABET.decode())")
    assert r.returncode == 0, r.stderr.decode()
    table, alphabet = r.stdout.decode().split(" ", 1)
    alphabet = alphabet.rstrip("\n")
    assert len(alphabet) == 45
    rev = bytes.fromhex(table)
    assert len(rev) == 256
    assert [rev[c] for c in range(256)] == [alphabet.index(chr(c)) if chr(c) in alphabet else 0xFF
                                           for c in range(256)]
