"""Device registration support (docs/provisioning.md): stateless challenges,
proof of key possession, and the fleet-signed provisioning bundle.

Challenge = issued_at (8 bytes) | random (16) | HMAC-SHA256(secret, device id |
issued_at | random)[:16]: the fleet stores nothing until the device proves it
holds its private key by signing the registration statement
(possession_message(): a fixed context, the purpose, this fleet's key, the
device id and the challenge; firmware/setup/commands.py sign_message()). The
device signs nothing else, so its signature is of no use to another fleet or
as a signature over any other bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fleet.core import errors
from greengate.control import envelope

SIGN_CONTEXT = b"greengate-device-sig-v2\x00"  # firmware/setup/commands.py
PURPOSE_REGISTER = 1
CHALLENGE_TTL_S = 300
BUNDLE_VALIDITY_S = 3600


def _mac(secret: str, device_id: str, head: bytes) -> bytes:
    return hmac.new(secret.encode(), b"challenge:" + device_id.encode() + b":" + head,
                    hashlib.sha256).digest()[:16]


def make_challenge(secret: str, device_id: str, now: float | None = None) -> bytes:
    head = struct.pack(">Q", int(time.time() if now is None else now)) + os.urandom(16)
    return head + _mac(secret, device_id, head)


def check_challenge(secret: str, device_id: str, challenge: bytes, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if len(challenge) != 40 or not hmac.compare_digest(challenge[24:], _mac(secret, device_id, challenge[:24])):
        raise errors.BadRequest("challenge was not issued for this device / mã thử không hợp lệ",
                                code="BAD_CHALLENGE")
    issued = struct.unpack(">Q", challenge[:8])[0]
    if not issued - 30 <= now <= issued + CHALLENGE_TTL_S:
        raise errors.BadRequest("challenge expired: ask for a new one / mã thử đã hết hạn",
                                code="CHALLENGE_EXPIRED")


def possession_message(fleet_public_key: bytes, device_id: str, challenge: bytes) -> bytes:
    """What the device signs to register with this fleet (fixed-length parts)."""
    return (SIGN_CONTEXT + bytes((PURPOSE_REGISTER,)) + fleet_public_key + device_id.encode()
            + challenge)


def check_possession(public_key: bytes, challenge: bytes, signature: bytes, device_id: str,
                     fleet_public_key: bytes) -> None:
    message = possession_message(fleet_public_key, device_id, challenge)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise errors.BadRequest("the device's signature does not verify with its public key / "
                                "chữ ký thiết bị không hợp lệ", code="BAD_SIGNATURE") from None


def make_bundle(fleet_key: Ed25519PrivateKey, fleet_public_keys: list[bytes], device_id: str,
                site_id: int | None, broker_url: str, username: str, password: str,
                ca_pem: str | None, version: int, now: int | None = None,
                release_public_keys: list[bytes] | None = None) -> bytes:
    """Kind-5 PROVISION control message, device-scoped (firmware/setup/bundle.py);
    key 7: the release public keys firmware updates must be signed with
    (GREENGATE_RELEASE_PUBLIC_KEYS; none configured: the gate keeps its own)."""
    now = int(time.time() if now is None else now)
    body = {1: str(site_id) if site_id is not None else "", 2: broker_url, 3: username,
            4: password, 5: list(fleet_public_keys), 6: ca_pem}
    if release_public_keys:
        body[7] = list(release_public_keys)
    return envelope.sign_message(envelope.KIND_PROVISION, version, body,
                                 envelope.device_scope(device_id), fleet_key, now,
                                 now + BUNDLE_VALIDITY_S)
