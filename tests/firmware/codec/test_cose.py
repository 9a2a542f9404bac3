"""verify/cose.py under MicroPython: COSE_Sign1 made by pycose (an
independent implementation), Sig_structure bytes checked against cbor2 and
against a real Ed25519 signature, and every malformed envelope rejected."""
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message


def _tbs(protected: bytes, aad: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, aad, payload])


@pytest.fixture(scope="module")
def key():
    return OKPKey.generate_key(crv=Ed25519)


# Payload sizes across every bstr head width (0..23, 24..255, 256..65535, 65536+).
SIZES = [0, 1, 23, 24, 255, 256, 1000, 65535, 65536]


def test_pycose_messages_parse_and_tbs_verifies(codec_run, key):
    reqs, msgs = [], []
    for size in SIZES:
        payload = cbor2.dumps({1: "GG", 4: 1700000000, -65537: {1: 0, 2: "NVA"}, 99: b"x" * size})
        for aad in (b"", b"a" * 30, b"b" * 300):
            msg = Sign1Message(phdr={Algorithm: EdDSA, KID: b"kid12345"}, uhdr={}, payload=payload,
                               external_aad=aad)
            msg.key = key
            enc = msg.encode()
            msgs.append((enc, payload, aad))
            reqs.append({"op": "cose", "hex": enc.hex(), "aad": aad.hex(), "max_bytes": 70000})
    pub = Ed25519PublicKey.from_public_bytes(key.x)
    out = codec_run(reqs, heap="8m")
    for (enc, payload, aad), o in zip(msgs, out):
        assert o["ok"], o
        obj = cbor2.loads(enc)
        protected, _u, _p, sig = obj.value
        assert o["protected"] == protected.hex()
        assert o["payload"] == payload.hex() and o["signature"] == sig.hex()
        assert o["alg"] == -8 and o["kid"] == b"kid12345".hex()
        tbs = bytes.fromhex(o["tbs"])
        assert tbs == _tbs(protected, aad, payload)
        pub.verify(sig, tbs)  # raises InvalidSignature if a byte is off


def _sign1(protected, unprotected, payload=b"\xa0", signature=b"\x00" * 64, tag=18):
    arr = [protected, unprotected, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(tag, arr) if tag is not None else arr)


P_ALG_KID = cbor2.dumps({1: -8, 4: b"P" * 8})

VALID = {
    "tagged": (_sign1(P_ALG_KID, {}), -8, "P" * 8),
    "untagged": (_sign1(P_ALG_KID, {}, tag=None), -8, "P" * 8),
    "cwt tag 61 around tag 18": (cbor2.dumps(cbor2.CBORTag(61, cbor2.CBORTag(18, [P_ALG_KID, {}, b"", b"s"]))), -8, "P" * 8),
    "empty protected bstr": (_sign1(b"", {1: -8, 4: b"U" * 8}), -8, "U" * 8),
    "protected empty map": (_sign1(b"\xa0", {4: b"U"}), None, "U"),
    "kid in both: protected wins": (_sign1(P_ALG_KID, {4: b"U" * 8, 1: -7}), -8, "P" * 8),
    "alg only unprotected": (_sign1(cbor2.dumps({4: b"k"}), {1: -8}), -8, "k"),
    "text labels allowed": (_sign1(cbor2.dumps({1: -8, "x": 1}), {"y": [1]}), -8, None),
    "indefinite-length array": (b"\xd2\x9f" + cbor2.dumps(P_ALG_KID) + b"\xa0\x41\xa0\x40\xff", -8, "P" * 8),
}

INVALID = {
    "not CBOR": b"\xd2\x84\x43",
    "trailing bytes": _sign1(P_ALG_KID, {}) + b"\x00",
    "COSE_Sign tag 98": _sign1(P_ALG_KID, {}, tag=98),
    "COSE_Mac0 tag 17": _sign1(P_ALG_KID, {}, tag=17),
    "tag 61 without tag 18": cbor2.dumps(cbor2.CBORTag(61, [P_ALG_KID, {}, b"", b""])),
    "three elements": cbor2.dumps(cbor2.CBORTag(18, [P_ALG_KID, {}, b""])),
    "five elements": cbor2.dumps(cbor2.CBORTag(18, [P_ALG_KID, {}, b"", b"", b""])),
    "a map, not an array": cbor2.dumps(cbor2.CBORTag(18, {1: 2})),
    "protected is a map": _sign1({1: -8}, {}),
    "protected bstr holds an int": _sign1(b"\x01", {}),
    "protected bstr holds garbage": _sign1(b"\xa1\x01", {}),
    "protected bstr has trailing bytes": _sign1(P_ALG_KID + b"\x00", {}),
    "unprotected is a bstr": _sign1(P_ALG_KID, b""),
    "unprotected is nil": _sign1(P_ALG_KID, None),
    "detached payload (nil)": _sign1(P_ALG_KID, {}, payload=None),
    "payload is text": _sign1(P_ALG_KID, {}, payload="x"),
    "signature is text": _sign1(P_ALG_KID, {}, signature="sig"),
    "signature is nil": _sign1(P_ALG_KID, {}, signature=None),
    "alg is text": _sign1(cbor2.dumps({1: "EdDSA"}), {}),
    "kid is an int": _sign1(cbor2.dumps({1: -8, 4: 7}), {}),
    "kid unprotected is text": _sign1(cbor2.dumps({1: -8}), {4: "kid"}),
    "alg is nil": _sign1(cbor2.dumps({1: None}), {}),
    "kid nil in unprotected": _sign1(cbor2.dumps({1: -8}), {4: None}),
    "header label is bytes": _sign1(cbor2.dumps({b"l": 1}), {}),
    "empty input": b"",
    "a bare bstr": cbor2.dumps(b"\xd2\x84"),
    "longer than the default cap": _sign1(P_ALG_KID, {}, payload=b"x" * 16384),
}


def test_valid_variants(codec_run):
    names = list(VALID)
    out = codec_run([{"op": "cose", "hex": VALID[n][0].hex()} for n in names])
    for n, o in zip(names, out):
        assert o["ok"], (n, o)
        _data, alg, kid = VALID[n]
        assert o["alg"] == alg, n
        if kid is not None:
            assert o["kid"] == kid.encode().hex(), n
        # The ToBeSigned carries the protected bytes exactly as received.
        assert bytes.fromhex(o["tbs"]) == _tbs(bytes.fromhex(o["protected"]), b"", bytes.fromhex(o["payload"]))


def test_invalid_envelopes_rejected_with_cose_reason(codec_run):
    names = list(INVALID)
    out = codec_run([{"op": "cose", "hex": INVALID[n].hex()} for n in names])
    for n, o in zip(names, out):
        assert (o["ok"], o.get("err"), o.get("reason")) == (False, "DecodeError", "COSE"), (n, o)
