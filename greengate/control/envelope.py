"""Sign and open fleet -> device control messages (docs/protocol.md).

A control message is a COSE_Sign1 (tag 18, EdDSA) signed by a fleet key over
a CBOR payload map: 1 kind, 2 version, 3 issued_at, 4 valid_until,
5 scope [type, id], 6 body. The device side is firmware/control/envelope.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KIND_CONFIG = 1
KIND_TRUST = 2
KIND_REVOCATION = 3
KIND_COMMAND = 4
KIND_PROVISION = 5  # provisioning bundle, handed over USB (docs/provisioning.md)
KIND_FIRMWARE = 6   # firmware release manifest, handed over USB (provisioning/release.py)
KIND_OTA = 8        # firmware update offer over MQTT (greengate/ota/offer.py)
KINDS = {"config": KIND_CONFIG, "trust": KIND_TRUST, "revocation": KIND_REVOCATION,
         "command": KIND_COMMAND, "provision": KIND_PROVISION, "firmware": KIND_FIRMWARE,
         "ota": KIND_OTA}

SCOPE_FLEET = 0
SCOPE_SITE = 1
SCOPE_DEVICE = 2
ALG_EDDSA = -8
MAX_MESSAGE = 4000  # the device client's max packet is 4 KiB


def fleet_scope() -> list:
    return [SCOPE_FLEET, ""]


def site_scope(site_id: str) -> list:
    return [SCOPE_SITE, site_id]


def device_scope(device_id: str) -> list:
    return [SCOPE_DEVICE, device_id]


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def kid_for(public_key_raw: bytes) -> bytes:
    return hashlib.sha256(public_key_raw).digest()[:8]


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def encode_payload(kind: int, version: int, body: Any, scope: list, issued_at: int, valid_until: int) -> bytes:
    if kind not in KINDS.values():
        raise ValueError(f"unknown kind {kind}")
    if version < 0 or issued_at < 0 or valid_until < issued_at:
        raise ValueError("version/issued_at must be >= 0 and valid_until >= issued_at")
    if not (isinstance(scope, (list, tuple)) and len(scope) == 2 and scope[0] in (0, 1, 2)):
        raise ValueError("scope is [0 fleet | 1 site | 2 device, id]")
    return cbor2.dumps(
        {1: kind, 2: version, 3: issued_at, 4: valid_until, 5: list(scope), 6: body},
        canonical=True,
    )


def sign_payload(payload: bytes, fleet_key: Ed25519PrivateKey) -> bytes:
    protected = cbor2.dumps({1: ALG_EDDSA, 4: kid_for(raw_public(fleet_key))}, canonical=True)
    signature = fleet_key.sign(_sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))


def sign_message(
    kind: int,
    version: int,
    body: Any,
    scope: list,
    fleet_key: Ed25519PrivateKey,
    issued_at: int,
    valid_until: int,
) -> bytes:
    """One signed control message, ready to publish (<= 4,000 bytes; keep it ~1 KiB)."""
    data = sign_payload(encode_payload(kind, version, body, scope, issued_at, valid_until), fleet_key)
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"control message is {len(data)} bytes; send big parts as blobs")
    return data


@dataclass(frozen=True)
class Opened:
    kind: int
    version: int
    issued_at: int
    valid_until: int
    scope: list
    body: Any


def open_message(data: bytes, fleet_public_keys: list[bytes]) -> Opened:
    """Host-side check (tools, tests, the bridge's self-check): ValueError if
    the message is not one of ours."""
    obj = cbor2.loads(data)
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != 18:
            raise ValueError("not COSE_Sign1")
        obj = obj.value
    if not (isinstance(obj, (list, tuple)) and len(obj) == 4):
        raise ValueError("not COSE_Sign1")
    protected, _unprotected, payload, signature = obj
    if cbor2.loads(protected).get(1) != ALG_EDDSA:
        raise ValueError("not EdDSA")
    tbs = _sig_structure(protected, payload)
    for raw in fleet_public_keys:
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, tbs)
            break
        except InvalidSignature:
            continue
    else:
        raise ValueError("no fleet key verifies the signature")
    m = cbor2.loads(payload)
    return Opened(m[1], m[2], m[3], m[4], m[5], m[6])


def digest(data: bytes) -> bytes:
    """What the device stores to recognise a re-delivered identical message."""
    return hashlib.sha256(data).digest()[:16]
