"""Differential: thousands of generated EU DCCs (ES256, PS256-2048/3072/4096,
v/t/r, kid protected or unprotected, any PSS salt length) and mutations of
them (signature bits, payload bytes not re-signed, another signer's kid,
unknown kid, lapsed signer, types the signer may not sign, times, text
characters) through the device's verifier under MicroPython and through the
host's reference (greengate/dcc/verify.py with `cryptography`): identical
reason, pass hash, revocation hashes and rule claims for every one. Plus
pycose interop both ways."""

import random
import sys
from pathlib import Path

import cbor2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dcc_device import device_check  # noqa: E402
from greengate.dcc import issue, table, trustlist  # noqa: E402
from greengate.dcc.verify import Verifier  # noqa: E402
from greengate.passes import reasons as R  # noqa: E402

NOW = 1_640_000_000
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    rnd = random.Random(13)
    dscs = [issue.make_dsc(issue.ES256, "VN"), issue.make_dsc(issue.ES256, "DE", "v"),
            issue.make_dsc(issue.ES256, "FR", "tr"), issue.make_dsc(issue.PS256, "VN"),
            issue.make_dsc(issue.PS256, "AT", "t", rsa_bits=3072),
            issue.make_dsc(issue.PS256, "IT", "", rsa_bits=4096),
            issue.make_dsc(issue.ES256, "BE", "", not_before=NOW - 10 * 86400, not_after=NOW - 86400),
            issue.make_dsc(issue.PS256, "NL", "vtr", not_before=NOW + 86400, not_after=NOW + 9 * 86400)]
    untrusted = issue.make_dsc(issue.ES256, "VN")
    signers = [trustlist.signer_from_der(d.der, d.country) for d in dscs]
    snap = tmp_path_factory.mktemp("dcc") / "table.bin"
    snap.write_bytes(table.table_bytes(signers, 1))
    return rnd, dscs, untrusted, signers, snap


def _payload(rnd, dsc, i):
    kind = rnd.choice("vtr")
    iat = NOW - rnd.choice([86400, 3600, 0, -200, -10_000])
    exp = iat + rnd.choice([86400 * 365, 86400, 3600, 10, -5])
    kw = {}
    if kind == "v":
        kw = dict(doses=rnd.randint(0, 4), series=rnd.randint(1, 3), product=rnd.choice([issue.COMIRNATY, "EU/1/21/1529"]))
    elif kind == "t":
        kw = dict(result=rnd.choice([issue.NEGATIVE, issue.POSITIVE, "x"]), test_type=rnd.choice([issue.NAAT, issue.RAT]))
    return issue.dcc_payload(kind, rnd.choice([dsc.country, "VN", "DE"]), iat, exp, f"URN:UVCI:01:VN:{i:08d}", **kw)


def _flip(rnd, data: bytes) -> bytes:
    b = bytearray(data)
    i = rnd.randrange(len(b))
    b[i] ^= 1 << rnd.randrange(8)
    return bytes(b)


def _cases(world, n):
    rnd, dscs, untrusted, _signers, _snap = world
    out = []
    for i in range(n):
        dsc = rnd.choice(dscs)
        claims = _payload(rnd, dsc, i)
        salt = rnd.choice([None, 0, 20, 32, 64]) if dsc.alg == issue.PS256 else None
        kid_in = rnd.choice(["protected", "protected", "unprotected"])
        cose = issue.cose_bytes(claims, dsc, kid_in, salt)
        m = i % 8
        if m == 1:  # a signature bit
            tag = cbor2.loads(cose)
            p, u, pl, sig = tag.value
            cose = cbor2.dumps(cbor2.CBORTag(18, [p, u, pl, _flip(rnd, sig)]))
        elif m == 2:  # the payload changed, not re-signed
            tag = cbor2.loads(cose)
            p, u, pl, sig = tag.value
            new = dict(claims)
            new[4] = claims[4] + 86400 * 365
            cose = cbor2.dumps(cbor2.CBORTag(18, [p, u, cbor2.dumps(new), sig]))
        elif m == 3:  # signed by a key nobody trusts, or claiming another signer's kid
            other = rnd.choice(dscs)
            fake = issue.TestDsc(untrusted.private_key, other.der if rnd.random() < 0.5 else untrusted.der,
                                 issue.ES256, other.country)
            cose = issue.cose_bytes(claims, fake, kid_in)
        elif m == 4:  # one text character changed
            text = issue.hc1_text(cose)
            j = rnd.randrange(4, len(text))
            out.append({"t": text[:j] + rnd.choice(B45) + text[j + 1:], "now": NOW})
            continue
        now = rnd.choice([NOW, NOW, None, NOW + 86400 * 400]) if m == 5 else NOW
        out.append({"t": issue.hc1_text(cose), "now": now})
    return out


@pytest.mark.parametrize("n", [2400])
def test_device_and_cryptography_agree(world, n):
    _rnd, _dscs, _u, signers, snap = world
    cases = _cases(world, n)
    for c in cases:
        c["snap"] = str(snap)
    got = device_check(cases, chunk=50)
    host = Verifier(signers)
    seen = set()
    for c, (reason, pass_hash, hashes, claims) in zip(cases, got):
        h = host.check(c["t"], c["now"])
        assert (reason, pass_hash, hashes, claims) == (
            h.reason, h.pass_hash and h.pass_hash.hex(), [x.hex() for x in h.hashes], h.claims), c
        seen.add(reason)
    # the mix reaches every verdict the pipeline has
    assert {R.OK, R.SIGNATURE, R.KID_UNKNOWN, R.DSC_TYPE, R.EXPIRED, R.NOT_YET_VALID, R.CLOCK} <= seen, seen
    assert seen & {R.BASE45, R.INFLATE, R.COSE, R.CBOR, R.CLAIMS, R.ALG}


def test_pycose_interop_both_ways(world, tmp_path):
    """A DCC signed by pycose verifies on the device; one signed here verifies
    with pycose."""
    from pycose.algorithms import Es256, Ps256
    from pycose.headers import KID, Algorithm
    from pycose.keys import EC2Key, RSAKey
    from pycose.keys.curves import P256
    from pycose.messages import Sign1Message

    _rnd, dscs, _u, signers, snap = world
    es, ps = dscs[0], dscs[3]
    texts = []
    for dsc, alg in ((es, Es256), (ps, Ps256)):
        claims = issue.dcc_payload("v", dsc.country, NOW - 60, NOW + 86400, "URN:UVCI:01:VN:PYCOSE")
        msg = Sign1Message(phdr={Algorithm: alg, KID: dsc.kid}, payload=cbor2.dumps(claims))
        if dsc.alg == issue.ES256:
            n = dsc.private_key.private_numbers()
            msg.key = EC2Key(crv=P256, d=n.private_value.to_bytes(32, "big"),
                             x=n.public_numbers.x.to_bytes(32, "big"), y=n.public_numbers.y.to_bytes(32, "big"))
        else:
            n = dsc.private_key.private_numbers()
            nb = lambda v: v.to_bytes((v.bit_length() + 7) // 8, "big")  # noqa: E731
            msg.key = RSAKey(n=nb(n.public_numbers.n), e=nb(n.public_numbers.e), d=nb(n.d), p=nb(n.p), q=nb(n.q),
                             dp=nb(n.dmp1), dq=nb(n.dmq1), qinv=nb(n.iqmp))
        texts.append(issue.hc1_text(msg.encode()))
    got = device_check([{"snap": str(snap), "t": t, "now": NOW} for t in texts])
    assert [g[0] for g in got] == [R.OK, R.OK]

    # ours -> pycose
    import base45
    import zlib

    for dsc in (es, ps):
        text = issue.sign_hc1(issue.dcc_payload("t", dsc.country, NOW - 60, NOW + 86400, "URN:X"), dsc)
        tagged = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
        assert tagged.tag == 18
        # cbor2 hands a tag's contents over as immutable tuple / frozendict,
        # which pycose's decode() does not take: from_cose_obj() on the
        # mutable ones is the same parser
        p, u, pl, sig = tagged.value  # (frozendict for the header map, too)
        msg = Sign1Message.from_cose_obj([p, dict(u), pl, sig], True)
        pub = dsc.private_key.public_key()
        if dsc.alg == issue.ES256:
            nums = pub.public_numbers()
            msg.key = EC2Key(crv=P256, x=nums.x.to_bytes(32, "big"), y=nums.y.to_bytes(32, "big"))
        else:
            nums = pub.public_numbers()
            msg.key = RSAKey(n=nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big"), e=nums.e.to_bytes(3, "big"))
        assert msg.verify_signature()
