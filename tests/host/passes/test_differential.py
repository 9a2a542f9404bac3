"""Device (firmware under MicroPython) vs reference (CPython): same verdict,
same reason, same claims, same pass hash, on thousands of random passes,
random mutations of them, and the whole EU DCC test corpus."""

import json
import random
import zlib

import base45
import cbor2
import pytest

from gg_pass_helpers import NOW, SKEW, assert_same, both, cose, new_key, text_for
from greengate.passes import claims as c
from greengate.passes.device import Scan

SEED = 20210921
N_PASSES = 1500
N_MUTANTS = 1500

TEXT_POOL = (
    "ABCXYZabcxyz0189 -" "ĐđƯưÂÊÔƠăẠẶỹ" "\x00\x1f\x7f\x85\x9f\u00a0" "😀€"
)


def rand_text(rng, lo=0, hi=40):
    return "".join(rng.choice(TEXT_POOL) for _ in range(rng.randint(lo, hi)))


def rand_value(rng, depth=0):
    """Any CBOR value the tests' encoder can make (for unknown and bad claims)."""
    kinds = ["int", "nint", "big", "text", "bytes", "float", "bool", "null", "tag"]
    if depth < 3:
        kinds += ["list", "map"]
    k = rng.choice(kinds)
    if k == "int":
        return rng.choice([0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63])
    if k == "nint":
        return -rng.randint(1, 2**40)
    if k == "big":
        return rng.choice([2**64, 2**100, -(2**70)])
    if k == "text":
        return rand_text(rng)
    if k == "bytes":
        return rng.randbytes(rng.randint(0, 20))
    if k == "float":
        return rng.choice([0.0, 1.5, -2.25, 1e300, float("inf")])
    if k == "bool":
        return rng.random() < 0.5
    if k == "null":
        return None
    if k == "tag":
        return cbor2.CBORTag(rng.choice([1, 24, 32, 1004, 9999]), rand_value(rng, depth + 1))
    if k == "list":
        return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.randint(-5, 20): rand_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def bad_uint(rng, lo, hi):
    return rng.choice([lo - 1, hi + 1, -1, True, False, 1.0, str(lo), None, [lo], 2**64, rand_value(rng)])


def rand_claims(rng, issuer):
    """A valid claim set, edge values included."""
    iat = NOW + rng.choice([0, -86400 * rng.randint(0, 30), rng.randint(-SKEW * 2, SKEW * 2)])
    exp = iat + rng.choice([0, 1, SKEW, 86400, 365 * 86400, rng.randint(0, 10**7)])
    nbf = rng.choice([None, iat, iat + rng.randint(0, max(0, exp - iat))])
    kw = dict(iss=issuer, iat=iat, exp=exp, nbf=nbf, role=c.Role(rng.randint(0, 4)))
    if rng.random() < 0.8:
        kw["cti"] = rng.randbytes(rng.randint(8, 16))
    if rng.random() < 0.7:
        kw["initials"] = "".join(rng.choice("NVAĐƯÊ") for _ in range(rng.randint(1, 6)))
    if rng.random() < 0.6:
        kw["birth_year"] = rng.choice([1900, 2100, rng.randint(1900, 2100)])
    if rng.random() < 0.6:
        kw["vaccination"] = c.Vaccination(rng.randint(0, 9), c.day_date(rng.choice([0, 65535, 18840])))
    if rng.random() < 0.4:
        kw["test"] = c.LabTest(c.LabResult(rng.randint(0, 1)), rng.choice([0, 2**32 - 1, NOW]))
    if rng.random() < 0.3:
        kw["f0"] = c.F0(c.F0Status(rng.randint(0, 2)), c.day_date(rng.randint(0, 65535)))
    if rng.random() < 0.5:
        kw["health_decl"] = c.day_date(rng.randint(0, 65535))
    if rng.random() < 0.4:
        kw["business"] = "".join(rng.choice("ABC-123") for _ in range(rng.randint(1, 16)))
    if rng.random() < 0.6:
        kw["zone"] = c.Zone(rng.randint(0, 3))
    return c.PassClaims(**kw)


GG_FIELDS = {1: (0, 4), 3: (1900, 2100), 7: (0, 65535), 9: (0, 3)}


def perturb(rng, cwt):
    """Break (or not) a CWT map in one of many ways."""
    gg = cwt[c.GG]
    r = rng.random()
    if r < 0.45:
        return cwt  # left valid
    choice = rng.randint(0, 13)
    if choice == 0:
        del cwt[rng.choice([c.ISS, c.IAT, c.EXP, c.GG])]
    elif choice == 1:
        cwt[rng.choice([c.IAT, c.EXP, c.NBF])] = bad_uint(rng, 0, 2**32 - 1)
    elif choice == 2:
        cwt[c.ISS] = rng.choice([rand_text(rng, 0, 40), 7, b"HCM", "HCM-D7\x00", "X" * 33])
    elif choice == 3:
        cwt[c.CTI] = rng.choice([rng.randbytes(rng.randint(0, 20)), "cti", 5])
    elif choice == 4:
        k = rng.choice(list(GG_FIELDS))
        gg[k] = bad_uint(rng, *GG_FIELDS[k])
    elif choice == 5:
        gg[rng.choice([2, 8])] = rng.choice([rand_text(rng, 0, 20), 42, b"x"])
    elif choice == 6:
        gg[rng.choice([4, 5, 6])] = rng.choice([[], [1], [1, 2, 3], (1, 2), [True, 1], [1, -1],
                                                [0, 2**32], [9, 65536], [10, 0], [2, 0], [1, 2**32 - 1]])
    elif choice == 7:
        del gg[1]
    elif choice == 8:
        cwt[c.GG] = rand_value(rng)
    elif choice == 9:
        cwt[c.EXP], cwt[c.IAT] = cwt[c.IAT] - 1, cwt[c.EXP]  # empty window
    elif choice == 10:
        cwt[c.NBF] = cwt[c.EXP] + 1
    else:  # unknown claims are ignored
        for _ in range(rng.randint(1, 4)):
            key = rng.choice([2, 3, 8, 100, -1, -65538, "x", "iss"])
            cwt[key] = rand_value(rng)
            gg[rng.choice([10, 11, 255, "z"])] = rand_value(rng)
    return cwt


def rand_now(rng, cwt):
    iat, exp, nbf = cwt.get(c.IAT), cwt.get(c.EXP), cwt.get(c.NBF)
    pts = [NOW]
    for t in (iat, exp, nbf):
        if type(t) is int:
            pts += [t - SKEW - 1, t - SKEW, t + SKEW, t + SKEW + 1, t]
    if rng.random() < 0.03:
        return None
    return max(0, rng.choice(pts))


def make_pass(rng, keys):
    sk, entry = rng.choice(keys)
    issuer = entry.issuer if rng.random() < 0.95 else rng.choice(["HCM-D7", "EMPLOYER-42"])
    cwt = perturb(rng, rand_claims(rng, issuer).to_cwt())
    payload = cbor2.dumps(cwt) if rng.random() < 0.98 else rng.choice([b"", b"\xa1\x01", cbor2.dumps(cwt) + b"\x00"])
    phdr = {1: -8, 4: entry.kid}
    uhdr = None
    tag = 18
    r = rng.random()
    if r < 0.03:
        phdr[1] = rng.choice([-7, -37, "EdDSA", None])
    elif r < 0.05:
        uhdr, phdr = {1: -8, 4: entry.kid}, {}
    elif r < 0.07:
        phdr[4] = rng.choice([b"\x00" * 8, entry.kid[:4], "kid"])
    elif r < 0.09:
        tag = rng.choice([None, 61, 17, 98])
    elif r < 0.10:
        uhdr = {4: b"\x01" * 8, 99: rand_value(rng)}
    body = cose(payload, sk, phdr=phdr, uhdr=uhdr, tag=18 if tag == 61 else tag)
    if tag == 61:
        body = cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(body)))
    return Scan(text_for(body, compress=rng.random() < 0.3), rand_now(rng, cwt)), body


def mutate(rng, scan, body):
    k = rng.randint(0, 6)
    text = scan.qr
    if k == 0:  # flip one bit of the signed bytes
        b = bytearray(body)
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        return Scan(text_for(bytes(b), rng.random() < 0.3), scan.now)
    if k == 1:  # one character replaced with another base45 character
        i = rng.randrange(4, len(text))
        return Scan(text[:i] + rng.choice(base45.BASE45_CHARSET) + text[i + 1:], scan.now)
    if k == 2:
        return Scan(text[: rng.randrange(len(text))], scan.now)
    if k == 3:  # bytes dropped or appended inside the COSE
        b = bytearray(body)
        i = rng.randrange(len(b))
        b[i:i + rng.randint(1, 3)] = rng.randbytes(rng.randint(0, 3))
        return Scan(text_for(bytes(b)), scan.now)
    if k == 4:  # compressed stream damaged
        z = bytearray(zlib.compress(body))
        z[rng.randrange(len(z))] ^= 1 << rng.randrange(8)
        return Scan("GG1:" + base45.b45encode(bytes(z)).decode(), scan.now)
    if k == 5:
        return Scan(text + rng.choice(["\r\n", "\n", " ", "\t", "A"]), scan.now)
    return Scan(rng.choice(["gg1:", "GG2:", "GG1;", "G1:", " GG1:", "HC1:"]) + text[4:], scan.now)


@pytest.fixture(scope="module")
def keyring():
    a = new_key("HCM-D7")
    b = new_key("EMPLOYER-42")
    twin = new_key("HCM-D7", kid=a[1].kid)  # a kid collision with a
    retired = new_key("HCM-D7", not_after=NOW - 86400)
    untrusted = new_key("HCM-D7")
    signers = [a, a, a, b, twin, retired, untrusted]
    return signers, [a[1], b[1], twin[1], retired[1]]


def test_random_passes_and_mutations_agree(keyring):
    signers, trust = keyring
    rng = random.Random(SEED)
    made = [make_pass(rng, signers) for _ in range(N_PASSES)]
    scans = [s for s, _ in made]
    scans += [mutate(rng, *rng.choice(made)) for _ in range(N_MUTANTS)]
    dev, ref = both(scans, trust)
    assert_same(scans, dev, ref)
    reasons = {d["reason"] for d in dev}
    # Not vacuous: the generator reaches every layer.
    assert {"OK", "PREFIX", "BASE45", "INFLATE", "COSE", "ALG", "KID_UNKNOWN", "SIGNATURE",
            "CBOR", "CLAIMS", "EXPIRED", "NOT_YET_VALID", "CLOCK"} <= reasons, reasons
    assert sum(d["verdict"] for d in dev) > N_PASSES // 10


def eu_dcc_files(testdata):
    files = sorted((testdata / "eu-dcc").rglob("*.json"))
    assert len(files) >= 577
    return files


def test_whole_eu_dcc_corpus_agrees_and_is_rejected(testdata, keyring):
    """The EU corpus: real COSE from many implementations (ES256/PS256, tags,
    indefinite lengths, broken files). As HC1 text it is another scheme
    (PREFIX); re-prefixed GG1 it exercises every decoding layer, and neither
    engine may accept it (no EdDSA, untrusted keys) or crash."""
    scans = []
    for f in eu_dcc_files(testdata):
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            doc = {}
        prefix = doc.get("PREFIX") if isinstance(doc, dict) else None
        if isinstance(prefix, str):
            scans.append(Scan(prefix, NOW))
            scans.append(Scan("GG1:" + prefix[4:], NOW))
        cose_hex = doc.get("COSE") if isinstance(doc, dict) else None
        if isinstance(cose_hex, str):
            try:
                raw = bytes.fromhex(cose_hex)
            except ValueError:
                raw = cose_hex.encode()
            scans.append(Scan(text_for(raw), NOW))
        scans.append(Scan(f.read_bytes()[:400], NOW))  # the file itself as scanner noise
    signers, trust = keyring
    dev, ref = both(scans, trust)
    assert_same(scans, dev, ref)
    assert not any(d["verdict"] for d in dev)
    assert dev[0]["reason"] == "PREFIX"
    reasons = {d["reason"] for d in dev}
    assert {"PREFIX", "ALG"} <= reasons and "INTERNAL" not in reasons, reasons
