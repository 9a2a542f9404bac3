"""RSASSA-PSS SHA-256 / MGF1-SHA-256 verification (crypto/rsa_pss.py).

Wycheproof (every case of the 2048/3072/4096 files, the SHA-256 groups of
rsa_pss_misc), OpenSSL (`cryptography`) as the oracle for generated and
mutated signatures, encoded messages built by hand and signed with the raw
private key so each check of RFC 8017 9.1.2 is hit on its own, and hostile
arguments. Under MicroPython (the device) and CPython (tests/shim).
"""

import functools
import hashlib
import json
import random
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from crypto_harness import run_driver
from mpy import TESTDATA

DRIVER = Path(__file__).resolve().parent / "rsa_driver.py"
VECTORS = TESTDATA / "wycheproof"
SIZES = (2048, 3072, 4096)
AUTO = -1  # rsa_pss.SALT_AUTO
# rsa_pss result codes
OK, ARGUMENT, KEY_SIZE, KEY_EXPONENT, SIG_LENGTH, SIG_RANGE = 0, 1, 2, 3, 4, 5
EM_TOP_BITS, EM_TRAILER, EM_PADDING, HASH, DER = 6, 7, 8, 9, 10


@pytest.fixture(params=["micropython", "cpython"])
def run(request):
    return lambda reqs: run_driver(request.param, reqs, DRIVER)


def mpy(reqs):
    return run_driver("micropython", reqs, DRIVER)


def many(n: int | bytes, cases, salt=32, e=65537):
    n = n if isinstance(n, bytes) else n.to_bytes((n.bit_length() + 7) // 8, "big")
    return {"op": "many", "n": n.hex(), "e": e, "salt": salt, "cases": [[s.hex(), m.hex()] for s, m in cases]}


def codes(answer):
    """check(), verify() and check_digest() must agree; the check() codes."""
    assert answer["d"] == answer["c"]
    assert answer["v"] == [c == OK for c in answer["c"]]
    return answer["c"]


def load(name):
    return json.loads((VECTORS / name).read_text())


# --- Wycheproof -------------------------------------------------------------

def auto_expected(group, t) -> bool:
    """AUTO mode's verdict on a Wycheproof case: "valid", plus the cases
    "s_len changed to 0/1/20/31/33/max" (tcId 67-72): well-formed PSS
    signatures with another salt length, invalid only for a verifier fixed
    to salt length 32. Checked against OpenSSL's PSS.AUTO here."""
    want = t["result"] == "valid" or t["comment"].startswith("s_len changed to ")
    pub = serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
    try:
        pub.verify(bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"]),
                   padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
        openssl = True
    except InvalidSignature:
        openssl = False
    assert openssl == want, t["tcId"]
    return want


def test_wycheproof_sha256_mgf1_32_every_case(run):
    """All cases of the three files: the default mode (salt length 32) gives
    exactly Wycheproof's result; AUTO (salt length read from the encoded
    message) also accepts the 6 "s_len changed" cases of each file."""
    reqs, want, ids = [], [], []
    for size in SIZES:
        data = load(f"rsa_pss_{size}_sha256_mgf1_32_test.json")
        assert data["numberOfTests"] == 108
        for group in data["testGroups"]:
            assert (group["sha"], group["mgfSha"], group["sLen"], group["keySize"]) == ("SHA-256", "SHA-256", 32, size)
            assert group["publicKey"]["publicExponent"] == "010001"
            assert all(t["result"] in ("valid", "invalid") for t in group["tests"])
            cases = [(bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"])) for t in group["tests"]]
            n = bytes.fromhex(group["publicKey"]["modulus"])  # with DER's leading 00
            tc = [t["tcId"] for t in group["tests"]]
            reqs += [many(n, cases, salt=32), many(n, cases, salt=AUTO)]
            want += [[t["result"] == "valid" for t in group["tests"]], [auto_expected(group, t) for t in group["tests"]]]
            ids += [(size, 32, tc), (size, AUTO, tc)]
    answers = run(reqs)
    assert sum(len(w) for w in want) == 2 * 3 * 108
    assert sum(sum(w) for w in want[0::2]) == 3 * 63 and sum(sum(w) for w in want[1::2]) == 3 * (63 + 6)
    for (size, salt, tc), w, ans in zip(ids, want, answers):
        got = [c == OK for c in codes(ans)]
        assert dict(zip(tc, got)) == dict(zip(tc, w)), (size, salt)


def test_wycheproof_misc_sha256_groups(run):
    """rsa_pss_misc: the SHA-256 / MGF1-SHA-256 groups (salt 0, 20, 28, 32,
    48, 64; each one valid signature): valid with salt_len = the group's
    sLen and in AUTO mode; the default (32) accepts only the sLen 32 group
    and reports the others as EM_PADDING. Every other group (another hash or
    MGF hash) must be rejected in every mode."""
    data = load("rsa_pss_misc_test.json")
    assert data["numberOfTests"] == 150
    reqs, want = [], []
    mine = 0
    for group in data["testGroups"]:
        n = bytes.fromhex(group["publicKey"]["modulus"])
        cases = [(bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"])) for t in group["tests"]]
        assert all(t["result"] == "valid" for t in group["tests"])
        if group["sha"] == group["mgfSha"] == "SHA-256" and group["mgf"] == "MGF1":
            mine += len(cases)
            s = group["sLen"]
            reqs += [many(n, cases, salt=s), many(n, cases, salt=AUTO), many(n, cases)]
            want += [[OK] * len(cases), [OK] * len(cases), [OK if s == 32 else EM_PADDING] * len(cases)]
        else:
            reqs += [many(n, cases, salt=32), many(n, cases, salt=AUTO)]
            want += [None, None]
    assert mine == 6
    answers = run(reqs)
    for req, w, ans in zip(reqs, want, answers):
        got = codes(ans)
        if w is None:
            assert OK not in got, req["salt"]
        else:
            assert got == w, req["salt"]


def test_wycheproof_public_keys_from_der(run):
    """public_key_from_der on every group's X.509 SubjectPublicKeyInfo: the
    modulus and exponent of the JSON (without DER's sign octet)."""
    reqs, want = [], []
    for name in [f"rsa_pss_{s}_sha256_mgf1_32_test.json" for s in SIZES] + ["rsa_pss_misc_test.json"]:
        for group in load(name)["testGroups"]:
            reqs.append({"op": "der", "der": group["publicKeyDer"]})
            want.append((OK, group["publicKey"]["modulus"], 65537))
    answers = run(reqs)
    assert len(answers) == 3 + 150
    for w, ans in zip(want, answers):
        assert (ans["c"], ans["n"], ans["e"]) == (w[0], w[1][2:] if w[1].startswith("00") else w[1], w[2])


# --- OpenSSL as the oracle ------------------------------------------------

SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def probable_prime(rng: random.Random, bits: int) -> int:
    while True:
        c = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if any(c % p == 0 for p in SMALL_PRIMES) or (c - 1) % 65537 == 0:
            continue
        d, r = c - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(24):  # Miller-Rabin
            x = pow(rng.randrange(2, c - 1), d, c)
            if x in (1, c - 1):
                continue
            for _ in range(r - 1):
                x = x * x % c
                if x == c - 1:
                    break
            else:
                break
        else:
            return c


@functools.lru_cache(maxsize=None)
def key(bits: int, own: bool = False) -> rsa.RSAPrivateKey:
    """An RSA key whose modulus has exactly `bits` bits (OpenSSL makes a
    2048-bit modulus when asked for 2049, so odd sizes are built here; so is
    `own`: both primes >= 0.75 * 2^(bits/2), so n's top octet is >= 0x90)."""
    if bits % 1024 == 0 and not own:
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    rng = random.Random(bits)
    while True:
        p, q = probable_prime(rng, (bits + 1) // 2), probable_prime(rng, bits // 2)
        if p != q and (p * q).bit_length() == bits:
            break
    d = pow(65537, -1, (p - 1) * (q - 1))
    pub = rsa.RSAPublicNumbers(65537, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), pub).private_key()


def modulus(k: rsa.RSAPrivateKey) -> int:
    return k.public_key().public_numbers().n


def sign(k, msg, salt):
    return k.sign(msg, padding.PSS(padding.MGF1(hashes.SHA256()), salt), hashes.SHA256())


def openssl_ok(k, sig, msg, salt) -> bool:
    try:
        k.public_key().verify(sig, msg, padding.PSS(padding.MGF1(hashes.SHA256()), salt), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("bits", [2048, 2049, 2050, 3072, 4096])
def test_differential_against_openssl(bits):
    """Signed by OpenSSL with salt 32 and with the maximum salt; mutated
    signatures and messages. Our fixed-32 verdict must equal OpenSSL's with
    salt_length=32, our AUTO verdict OpenSSL's PSS.AUTO. Odd sizes cover
    emLen < k (2049) and 7 leftmost zero bits (2050)."""
    rng = random.Random(bits)
    k = key(bits)
    assert modulus(k).bit_length() == bits
    cases = []
    for i in range(12):
        msg = rng.randbytes(rng.choice([0, 1, 32, 100, 1000]))
        for salt in (32, padding.PSS.MAX_LENGTH):
            sig = sign(k, msg, salt)
            cases += [(sig, msg), (flip(sig, rng.randrange(8 * len(sig))), msg),
                      (sig, flip(msg, rng.randrange(8 * len(msg))) if msg else b"\x00")]
    # the high bits of s (s >= n or a different EM top)
    cases.append((flip(cases[0][0], 8 * len(cases[0][0]) - 1 - rng.randrange(3)), cases[0][1]))
    reqs = [many(modulus(k), cases, salt=32), many(modulus(k), cases, salt=AUTO)]
    want = [[openssl_ok(k, s, m, 32) for s, m in cases], [openssl_ok(k, s, m, padding.PSS.AUTO) for s, m in cases]]
    assert sum(want[0]) == 12 and sum(want[1]) == 24  # each signature verifies unmutated
    answers = mpy(reqs)
    assert [[c == OK for c in codes(a)] for a in answers] == want


# --- each check of EMSA-PSS-VERIFY on its own -----------------------------

def mgf1(seed: bytes, length: int) -> bytes:
    out = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range((length + 31) // 32))
    return out[:length]


def encode(msg: bytes, mod_bits: int, salt: bytes, *, ps_byte=None, sep=1, trailer=0xBC, top=0) -> int:
    """EMSA-PSS-ENCODE (RFC 8017 9.1.1) with optional faults."""
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    h = hashlib.sha256(bytes(8) + hashlib.sha256(msg).digest() + salt).digest()
    ps = bytearray(em_len - len(salt) - 34)
    if ps_byte is not None:
        ps[len(ps) // 2] = ps_byte
    db = bytes(ps) + bytes([sep]) + salt
    masked = bytearray(a ^ b for a, b in zip(db, mgf1(h, len(db))))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    if top:  # stays below n = key(own=True)
        masked[0] = (masked[0] & 0x0F) | top
    return int.from_bytes(bytes(masked) + h + bytes([trailer]), "big")


def raw_sign(k, em: int) -> bytes:
    priv = k.private_numbers()
    n = priv.public_numbers.n
    assert em < n
    return pow(em, priv.d, n).to_bytes((n.bit_length() + 7) // 8, "big")


def test_each_check_fires_on_its_own(run):
    msg, salt = b"greengate", bytes(range(32))
    reqs, want = [], []
    for bits in (2048, 2049):
        k = key(bits, own=True)
        n = modulus(k)
        nlen = (bits + 7) // 8
        good = raw_sign(k, encode(msg, bits, salt))
        cases = [
            (good, msg, OK),
            (good, b"greengatf", HASH),
            (raw_sign(k, encode(msg, bits, salt, trailer=0xBD)), msg, EM_TRAILER),
            (raw_sign(k, encode(msg, bits, salt, trailer=0x00)), msg, EM_TRAILER),
            (raw_sign(k, encode(msg, bits, salt, ps_byte=1)), msg, EM_PADDING),
            (raw_sign(k, encode(msg, bits, salt, sep=2)), msg, EM_PADDING),
            (raw_sign(k, encode(msg, bits, salt, sep=0)), msg, EM_PADDING),
            (raw_sign(k, encode(msg, bits, salt[:31])), msg, EM_PADDING),  # salt 31 in fixed-32 mode
            (raw_sign(k, encode(msg, bits, b"")), msg, EM_PADDING),
            (n.to_bytes(nlen, "big"), msg, SIG_RANGE),
            ((n + 1).to_bytes(nlen, "big"), msg, SIG_RANGE),
            (b"\xff" * nlen, msg, SIG_RANGE),
            (bytes(nlen), msg, EM_TRAILER),  # s = 0
            ((1).to_bytes(nlen, "big"), msg, EM_TRAILER),
            # (-1)^e = n - 1: needs emLen + 1 octets when modBits = 8j + 1
            ((n - 1).to_bytes(nlen, "big"), msg, EM_TRAILER if bits == 2048 else EM_TOP_BITS),
            (good[:-1], msg, SIG_LENGTH),
            (b"\0" + good, msg, SIG_LENGTH),
            (b"", msg, SIG_LENGTH),
        ]
        if bits == 2048:  # the one leftmost bit of EM (emBits = 2047) set
            cases.append((raw_sign(k, encode(msg, bits, salt, top=0x80)), msg, EM_TOP_BITS))
        else:  # emLen = k - 1: m >= 256^emLen (the extra top octet is 1)
            cases.append((raw_sign(k, (1 << 2048) + 0xBC), msg, EM_TOP_BITS))
        reqs.append(many(n, [(s, m) for s, m, _ in cases]))
        want.append([c for _, _, c in cases])
        # AUTO: any salt length the key allows; the faults stay faults
        auto = [(raw_sign(k, encode(msg, bits, salt[:31])), msg, OK), (raw_sign(k, encode(msg, bits, b"")), msg, OK),
                (raw_sign(k, encode(msg, bits, bytes(222))), msg, OK),  # maximum salt: emLen - 34
                (raw_sign(k, encode(msg, bits, salt, ps_byte=2)), msg, EM_PADDING),
                (raw_sign(k, encode(msg, bits, salt, sep=2)), msg, EM_PADDING),
                # a stray 0x01 reads as the separator of a longer salt: the hash rejects it
                (raw_sign(k, encode(msg, bits, salt, ps_byte=1)), msg, HASH),
                (raw_sign(k, encode(msg, bits, salt, sep=0)), msg, HASH)]
        reqs.append(many(n, [(s, m) for s, m, _ in auto], salt=AUTO))
        want.append([c for _, _, c in auto])
        # a fixed salt length other than 32
        reqs.append(many(n, [(raw_sign(k, encode(msg, bits, salt[:20])), msg), (good, msg)], salt=20))
        want.append([OK, EM_PADDING])
    answers = run(reqs)
    assert [codes(a) for a in answers] == want


def test_random_signatures_never_verify():
    rng = random.Random(7)
    k = key(2048)
    n = modulus(k)
    cases = [((rng.randrange(n)).to_bytes(256, "big"), b"x") for _ in range(200)]
    answers = mpy([many(n, cases), many(n, cases, salt=AUTO)])
    for a in answers:
        got = codes(a)
        assert OK not in got and set(got) <= {EM_TRAILER, EM_TOP_BITS, EM_PADDING, HASH}


# --- keys and arguments ---------------------------------------------------

def test_key_policy(run):
    k = key(2048)
    n = modulus(k)
    msg = b"m"
    sig = sign(k, msg, 32)
    nb = n.to_bytes(256, "big")
    reqs = [
        many(nb, [(sig, msg)]),
        many(b"\0\0" + nb, [(sig, msg)]),  # leading zero octets are not size
        {**many(nb, [(sig, msg)]), "e": None, "eb": "010001"},
        {**many(nb, [(sig, msg)]), "e": None, "eb": "00010001"},
    ]
    want = [[OK], [OK], [OK], [OK]]
    for e in (3, 17, 65539, 1, 0, -65537, 2**64 + 65537):
        reqs.append(many(nb, [(sig, msg)], e=e))
        want.append([KEY_EXPONENT])
    for eb in ("03", "00" * 17 + "010001", "010001" * 2):
        reqs.append({**many(nb, [(sig, msg)]), "e": None, "eb": eb})
        want.append([KEY_EXPONENT])
    reqs.append(many(b"\0" * 768 + nb, [(sig, msg)]))  # 1,024 bytes: still read
    want.append([OK])
    reqs.append(many(b"\0" * 769 + nb, [(sig, msg)]))  # 1,025 bytes: too long to be looked at
    want.append([KEY_SIZE])
    small = (1 << 2046) + 1  # 2047 bits, odd
    for bad_n in (small.to_bytes(256, "big"), (1 << 4096) + 1, (1 << 1023) + 1, n - 1, b"", b"\0" * 300):
        reqs.append(many(bad_n, [(sig, msg)]))
        want.append([KEY_SIZE])
    for salt in (-2, 223, 10**6):  # 2048 bits: salt length at most 222
        reqs.append(many(nb, [(sig, msg)], salt=salt))
        want.append([ARGUMENT])
    reqs.append(many(nb, [(sign(k, msg, padding.PSS.MAX_LENGTH), msg)], salt=222))
    want.append([OK])
    answers = run(reqs)
    assert [codes(a) for a in answers] == want


def test_odd_argument_types_never_raise(run):
    (ans,) = run([{"op": "types"}])
    assert ans["raised"] == []
    assert set(ans["codes"]) <= {ARGUMENT, KEY_SIZE, KEY_EXPONENT, SIG_LENGTH, DER}
    assert ARGUMENT in ans["codes"]


def spki(k) -> bytes:
    return k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_der_public_keys(run):
    """SubjectPublicKeyInfo and bare PKCS#1 RSAPublicKey; refused keys; and
    every truncation and many byte mutations of a real key: never a crash,
    never a wrong key (a mutation that still parses must be the modulus
    OpenSSL reads from the same bytes)."""
    rng = random.Random(5280)
    good = spki(key(2048))
    pkcs1 = key(2048).public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    small = spki(rsa.generate_private_key(65537, 1024))
    e3 = spki(rsa.generate_private_key(3, 2048))
    reqs = [{"op": "der", "der": d.hex()} for d in (good, pkcs1, small, e3)]
    want = [(OK, modulus(key(2048))), (OK, modulus(key(2048))), (KEY_SIZE, None), (KEY_EXPONENT, None)]
    hostile = [good[:i] for i in range(len(good))] + [good + b"\0", b"\x30\x84\xff\xff\xff\xff" + good[4:]]
    hostile.append(good[:1] + b"\x83\x00\x01\x22" + good[4:])  # non-minimal length
    for _ in range(300):
        d = bytearray(good)
        d[rng.randrange(40)] = rng.randrange(256)  # the structure is in the first bytes
        hostile.append(bytes(d))
    reqs += [{"op": "der", "der": d.hex()} for d in hostile]
    answers = run(reqs)
    for w, ans in zip(want, answers):
        assert ans["c"] == w[0]
        assert ans["n"] == (None if w[1] is None else format(w[1], "x"))
    parsed = 0
    for d, ans in zip(hostile, answers[len(want):]):
        assert ans["c"] in (OK, DER, KEY_SIZE, KEY_EXPONENT), d.hex()
        if ans["c"] == OK:
            parsed += 1
            theirs = serialization.load_der_public_key(d).public_numbers()
            assert (int(ans["n"], 16), ans["e"]) == (theirs.n, theirs.e)
    assert parsed < len(hostile) // 2


def tlv(tag: int, content: bytes, long_form: bool = False) -> bytes:
    n = len(content)
    if n < 0x80 and not long_form:
        return bytes([tag, n]) + content
    size = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def der_int(v: int) -> bytes:
    return v.to_bytes(v.bit_length() // 8 + 1, "big")


OID_RSA = bytes.fromhex("06092a864886f70d010101")
OID_PSS = bytes.fromhex("06092a864886f70d01010a")
OID_EC = bytes.fromhex("06072a8648ce3d0201")


def build_spki(n_bytes: bytes, e_bytes: bytes, *, alg=OID_RSA + b"\x05\x00", e_long=False, extra=b"", unused=0, after=b"") -> bytes:
    rsa_key = tlv(0x30, tlv(0x02, n_bytes) + tlv(0x02, e_bytes, long_form=e_long))
    return tlv(0x30, tlv(0x30, alg) + tlv(0x03, bytes([unused]) + rsa_key + extra) + after)


def test_der_strictness(run):
    """Built by hand: the canonical form is OpenSSL's; each DER rule broken
    on its own is refused (DER), the PSS algorithm OID is accepted."""
    k = key(2048)
    n = modulus(k)
    nb, eb = der_int(n), der_int(65537)
    assert build_spki(nb, eb) == spki(k)
    cases = [
        (build_spki(nb, eb), OK),
        (build_spki(nb, eb, alg=OID_PSS), OK),
        (build_spki(nb, eb, e_long=True), DER),  # non-minimal length
        (build_spki(nb, eb, extra=b"\0"), DER),  # bytes after RSAPublicKey in the BIT STRING
        (build_spki(nb, eb, after=b"\x05\x00"), DER),  # an element after the BIT STRING
        (build_spki(nb, eb, unused=1), DER),
        (build_spki(nb, eb, alg=OID_RSA), DER),  # parameters missing
        (build_spki(nb, eb, alg=OID_RSA + b"\x05\x01\x00"), DER),
        (build_spki(nb, eb, alg=OID_EC + OID_EC), DER),
        (build_spki(b"\0" + nb, eb), DER),  # non-minimal INTEGER
        (build_spki(nb, b"\xff\x00\x01"), DER),  # negative exponent
        (build_spki(nb, b""), DER),
        (build_spki(nb, der_int(3)), KEY_EXPONENT),
        (build_spki(der_int(n >> 8), eb), KEY_SIZE),
        (tlv(0x30, tlv(0x02, nb) + tlv(0x02, eb)), OK),  # bare RSAPublicKey
        (tlv(0x30, tlv(0x02, nb) + tlv(0x02, eb) + tlv(0x02, eb)), DER),
        (tlv(0x30, tlv(0x02, nb)), DER),
    ]
    answers = run([{"op": "der", "der": d.hex()} for d, _ in cases])
    assert [a["c"] for a in answers] == [c for _, c in cases]
    assert [a["n"] for a in answers if a["c"] == OK] == [format(n, "x")] * 3


def test_compiled_mpy_gives_the_same_verdicts(tmp_path):
    """The device runs .mpy (const() folding): compile crypto/rsa_pss.py for
    this machine's arch and rerun the 2048-bit Wycheproof file through it."""
    import platform
    import subprocess

    from mpy import FIRMWARE, MPY_CROSS, run_micropython

    march = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine())
    if march is None:
        pytest.skip("no mpy-cross arch for " + platform.machine())
    (tmp_path / "crypto").mkdir()
    for name in ("__init__", "rsa_pss"):
        subprocess.run([MPY_CROSS, "-march=" + march, str(FIRMWARE / "crypto" / (name + ".py")),
                        "-o", str(tmp_path / "crypto" / (name + ".mpy"))], check=True)
    group = load("rsa_pss_2048_sha256_mgf1_32_test.json")["testGroups"][0]
    cases = [(bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"])) for t in group["tests"]]
    reqs = [many(bytes.fromhex(group["publicKey"]["modulus"]), cases), {"op": "impl"}]
    proc = run_micropython(DRIVER, stdin="".join(json.dumps(r) + "\n" for r in reqs), extra_path=[tmp_path])
    assert proc.returncode == 0, proc.stderr.decode()
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [c == OK for c in codes(answers[0])] == [t["result"] == "valid" for t in group["tests"]]
    assert answers[1]["file"] == str(tmp_path / "crypto" / "rsa_pss.mpy")
