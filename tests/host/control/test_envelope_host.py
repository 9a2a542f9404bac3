"""Host signing of control messages: structure, interop with pycose (an
independent COSE implementation), and refusals."""

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

from greengate.control import envelope as env


@pytest.fixture(scope="module")
def key():
    return Ed25519PrivateKey.generate()


def test_signed_message_layout(key):
    data = env.sign_message(1, 7, {1: "site"}, env.device_scope("gg-000000000001"), key, 100, 200)
    tag = cbor2.loads(data)
    assert tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    assert cbor2.loads(protected) == {1: -8, 4: env.kid_for(env.raw_public(key))}
    assert unprotected == {} and len(signature) == 64
    assert cbor2.loads(payload) == {1: 1, 2: 7, 3: 100, 4: 200, 5: [2, "gg-000000000001"], 6: {1: "site"}}
    opened = env.open_message(data, [env.raw_public(key)])
    assert (opened.kind, opened.version, opened.body) == (1, 7, {1: "site"})


def _pycose(data: bytes) -> Sign1Message:
    # Sign1Message.decode() wants a list; this cbor2 gives tag contents as a tuple
    tag = cbor2.loads(data)
    assert tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    return Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)


def test_pycose_verifies_our_signature(key):
    data = env.sign_message(2, 1, [], env.fleet_scope(), key, 100, 200)
    msg = _pycose(data)
    msg.key = OKPKey(crv=Ed25519, x=env.raw_public(key))
    assert msg.verify_signature()
    tampered = bytearray(data)
    tampered[-1] ^= 1
    bad = _pycose(bytes(tampered))
    bad.key = msg.key
    assert not bad.verify_signature()


def test_host_open_refuses_other_keys_and_bit_flips(key):
    data = env.sign_message(3, 1, {1: None}, env.fleet_scope(), key, 100, 200)
    other = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError):
        env.open_message(data, [env.raw_public(other)])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(Exception):
        env.open_message(bytes(flipped), [env.raw_public(key)])
    # rotation: any of the listed keys may have signed
    assert env.open_message(data, [env.raw_public(other), env.raw_public(key)]).kind == 3


@pytest.mark.parametrize(
    "args",
    [
        (9, 1, {}, env.fleet_scope(), 100, 200),       # unknown kind
        (1, -1, {}, env.fleet_scope(), 100, 200),      # negative version
        (1, 1, {}, env.fleet_scope(), 200, 100),       # valid_until before issued_at
        (1, 1, {}, [5, "x"], 100, 200),                # bad scope type
    ],
)
def test_bad_envelopes_are_not_signed(key, args):
    kind, version, body, scope, iat, until = args
    with pytest.raises(ValueError):
        env.sign_message(kind, version, body, scope, key, iat, until)


def test_oversized_body_is_refused(key):
    with pytest.raises(ValueError, match="blobs"):
        env.sign_message(1, 1, {1: "x" * 5000}, env.fleet_scope(), key, 1, 2)


def test_digest_is_what_the_device_stores(key):
    data = env.sign_message(4, 1, {1: 1, 2: {}}, env.device_scope("gg-000000000001"), key, 1, 2)
    import hashlib

    assert env.digest(data) == hashlib.sha256(data).digest()[:16]
