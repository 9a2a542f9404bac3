"""Issue GG1 passes: claims -> CWT -> COSE_Sign1 (EdDSA) -> [zlib] -> base45 -> QR."""

from __future__ import annotations

import zlib
from pathlib import Path

import base45
import cbor2
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.passes.claims import PassClaims
from greengate.passes.keys import kid_for, raw_public

PREFIX = "GG1:"
ALG_EDDSA = -8
COSE_SIGN1_TAG = 18
HDR_ALG, HDR_KID = 1, 4
QR_ERROR = "m"


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """RFC 9052 ToBeSigned for COSE_Sign1: the exact bytes Ed25519 signs."""
    return cbor2.dumps(["Signature1", protected, external_aad, payload])


def sign1(payload: bytes, key: Ed25519PrivateKey, kid: bytes | None = None) -> bytes:
    """COSE_Sign1 bytes: tag 18, protected {1: -8, 4: kid}, unprotected {}."""
    if kid is None:
        kid = kid_for(raw_public(key))
    protected = cbor2.dumps({HDR_ALG: ALG_EDDSA, HDR_KID: kid})
    signature = key.sign(sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def wrap(cose: bytes, compress: bool | None = None) -> str:
    """QR text for COSE bytes; zlib only when it makes the text shorter (None = auto)."""
    body = cose
    if compress is not False:
        packed = zlib.compress(cose, 9)
        if compress or len(packed) < len(cose):
            body = packed
    return PREFIX + base45.b45encode(body).decode("ascii")


def issue(
    claims: PassClaims,
    key: Ed25519PrivateKey,
    kid: bytes | None = None,
    compress: bool | None = None,
) -> str:
    """Sign claims (issuer rules checked first) and return the GG1 QR text."""
    claims = claims.normalised()
    claims.check_for_issue()
    return wrap(sign1(cbor2.dumps(claims.to_cwt()), key, kid), compress)


def make_qr(text: str) -> segno.QRCode:
    """QR symbol: EC level M, alphanumeric mode (GG1 text is all QR-alphanumeric)."""
    return segno.make_qr(text, error=QR_ERROR, mode="alphanumeric", boost_error=False)


def save_qr(text: str, path: Path, scale: int = 6) -> segno.QRCode:
    """PNG or SVG by file extension; quiet zone of 4 modules as the standard asks."""
    qr = make_qr(text)
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError("QR image must be .png or .svg")
    qr.save(str(path), scale=scale, border=4)
    return qr
