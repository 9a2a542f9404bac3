"""Interop with pycose, an independent COSE implementation, both ways."""

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

from gg_pass_helpers import NOW, both, new_key, resident, text_for
from greengate.passes.device import Scan
from greengate.passes.issue import issue


def okp(sk, private=True):
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if not private:
        return OKPKey(crv=Ed25519, x=pub)
    d = sk.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                         serialization.NoEncryption())
    return OKPKey(crv=Ed25519, x=pub, d=d)


@pytest.mark.parametrize("compress", [False, True])
def test_pass_signed_by_pycose_verifies_on_device_and_reference(compress):
    sk, entry = new_key()
    msg = Sign1Message(phdr={Algorithm: EdDSA, KID: entry.kid},
                       payload=cbor2.dumps(resident().to_cwt()))
    msg.key = okp(sk)
    text = text_for(msg.encode(), compress)
    # A tampered twin must fail on both (so the accept is not vacuous).
    tampered = Sign1Message(phdr={Algorithm: EdDSA, KID: entry.kid},
                            payload=cbor2.dumps(resident(birth_year=1986).to_cwt()))
    tampered.key = okp(new_key()[0])
    scans = [Scan(text, NOW), Scan(text_for(tampered.encode(), compress), NOW)]
    dev, ref = both(scans, [entry])
    assert dev == ref
    assert [d["reason"] for d in dev] == ["OK", "SIGNATURE"]
    assert dev[0]["claims"]["birth_year"] == 1985


def test_pass_issued_by_greengate_verifies_with_pycose():
    sk, entry = new_key()
    text = issue(resident(), sk)
    tag = cbor2.loads(base45.b45decode(text[4:]))
    assert tag.tag == 18
    # Sign1Message.decode() expects the list cbor2 5 gave; cbor2 6 decodes tag
    # contents as tuples, so hand pycose the parts the way decode() would.
    decoded = Sign1Message.from_cose_obj([tag.value[0], dict(tag.value[1]), *tag.value[2:]], True)
    assert decoded.phdr[Algorithm] is EdDSA and decoded.phdr[KID] == entry.kid
    decoded.key = okp(sk, private=False)
    assert decoded.verify_signature()
    decoded.key = okp(new_key()[0], private=False)
    assert not decoded.verify_signature()
