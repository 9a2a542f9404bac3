"""DCC Document Signer Certificate (DSC) trust lists: parse and validate.

Input: the EU gateway's JSON form, as national backends republish it:

    {"certificates": [{"certificateType": "DSC", "country": "NL",
                       "kid": base64 (8 bytes), "rawData": base64 DER,
                       "signature": ..., "thumbprint": hex SHA-256 of DER,
                       "timestamp": ...}, ...]}

Every certificate becomes a `Signer` or a `Refused` entry with a reason code;
only a file that is not such a list at all raises `DscError`. Checks:

- kid = SHA-256(DER)[:8] and equal to the list's kid; thumbprint (if given)
  = SHA-256(DER) in hex; a kid seen twice is refused the second time;
- the DER is one X.509 certificate, nothing after it; the list's country is
  two capital letters and matches the certificate subject's C (when set);
- validity: not_before < not_after; with `now`, a DSC already expired then is
  refused (EXPIRED); without `now` expired ones are kept (the device checks
  the window at scan time, and tests verify at the test data's own clock);
- key: EC P-256 (alg -7, ES256; the point is checked on the curve) or RSA
  2048..4096 bits with e = 65537 (alg -37, PS256); anything else is refused;
- usage: the DCC extended key usage OIDs 1.3.6.1.4.1.1847.2021.1.{1,2,3}
  (and the 1.3.6.1.4.1.0.1847.2021.1.x variant some countries use) restrict
  the DSC to tests / vaccinations / recoveries; with none of them (no EKU, or
  only unrelated ones such as clientAuth) it may sign every type (as the EU
  verifier apps read it).

Parsing uses asn1crypto for the certificate structure (it reads each field
lazily, so one badly encoded extension, e.g. an explicitly encoded DEFAULT in
BasicConstraints, does not hide the EKU) and `cryptography` for the public
key (curve membership, RSA numbers). Negative serial numbers (5 Lebanese DSCs
in the 2024 EU list; RFC 5280 forbids them, `cryptography` warns and will
refuse them) are accepted: the serial plays no part in DCC verification, the
gateway published them and every EU verifier accepts them.

The list's CMS `signature` (by the uploading country's trust anchor) is not
checked here: the operator vouches for the file's origin when importing it,
and the fleet then signs what it pushes to gates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

ALG_ES256 = -7
ALG_PS256 = -37
RSA_MIN_BITS, RSA_MAX_BITS = 2048, 4096
RSA_EXPONENT = 65537

MAX_FILE = 64 * 1024 * 1024  # the real 832-certificate list is 4 MB
MAX_CERTS = 10_000
MAX_DER = 16 * 1024  # a DSC is ~1-2 KB; RSA-4096 with extensions < 3 KB

# EKU OID -> DCC type letter (t = test, v = vaccination, r = recovery)
USAGE_OIDS = {
    "1.3.6.1.4.1.1847.2021.1.1": "t",
    "1.3.6.1.4.1.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r",
    "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}
TYPE_ORDER = "vtr"

_COUNTRY = re.compile(r"[A-Z]{2}\Z")


class DscError(ValueError):
    """A DSC or a trust list that cannot be used; `code` says why.

    File-level codes: TOO_LARGE, BAD_JSON, NOT_A_LIST, TOO_MANY.
    Certificate-level codes: BAD_ENTRY, BAD_BASE64, TOO_BIG, NOT_A_CERTIFICATE,
    BAD_COUNTRY, COUNTRY_MISMATCH, KID_MISMATCH, THUMBPRINT_MISMATCH,
    DUPLICATE_KID, BAD_VALIDITY, EXPIRED, KEY_TYPE, EC_CURVE, RSA_SIZE,
    RSA_EXPONENT, BAD_KEY.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Signer:
    """One trusted DSC, in the form the device table and the fleet store use."""

    kid: bytes  # SHA-256(der)[:8]
    alg: int  # ALG_ES256 or ALG_PS256
    key: bytes  # P-256: 65 bytes 04||X||Y; RSA: modulus, big-endian
    e: int  # RSA public exponent (65537); 0 for EC
    not_before: int  # unix seconds
    not_after: int
    country: str  # 2 capital letters
    types: str  # subset of "vtr" in that order; "" = every type
    der: bytes
    subject: str
    issuer: str

    def may_sign(self, kind: str) -> bool:
        """True if this DSC may sign a certificate of type kind ('v', 't', 'r')."""
        return not self.types or kind in self.types


@dataclass(frozen=True)
class Refused:
    kid_b64: str  # the list's kid text (may itself be the malformed part)
    country: str
    code: str
    detail: str


@dataclass(frozen=True)
class TrustListResult:
    signers: list[Signer]
    refused: list[Refused]


def kid_of(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()[:8]


def _unix(t: datetime) -> int:
    return int(t.timestamp())


def _usage_types(cert: asn1_x509.Certificate) -> str:
    eku = cert.extended_key_usage_value
    if eku is None:
        return ""
    found = {USAGE_OIDS[o.dotted] for o in eku if o.dotted in USAGE_OIDS}
    return "".join(c for c in TYPE_ORDER if c in found)


def _key(spki_der: bytes) -> tuple[int, bytes, int]:
    """(alg, key bytes, e) from a SubjectPublicKeyInfo; DscError if unusable."""
    try:
        pub = load_der_public_key(spki_der)
    except (ValueError, TypeError) as e:  # off-curve point, bad encoding, unknown type
        raise DscError("BAD_KEY", f"public key unreadable: {e}") from None
    except Exception as e:  # cryptography raises UnsupportedAlgorithm for exotic keys
        raise DscError("KEY_TYPE", f"unsupported public key: {type(e).__name__}") from None
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if not isinstance(pub.curve, ec.SECP256R1):
            raise DscError("EC_CURVE", f"EC key on {pub.curve.name}, only P-256 (ES256) is accepted")
        n = pub.public_numbers()
        return ALG_ES256, b"\x04" + n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big"), 0
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        bits = n.n.bit_length()
        if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
            raise DscError("RSA_SIZE", f"RSA modulus of {bits} bits, accepted {RSA_MIN_BITS}..{RSA_MAX_BITS}")
        if n.e != RSA_EXPONENT:
            raise DscError("RSA_EXPONENT", f"RSA exponent {n.e}, only {RSA_EXPONENT} is accepted")
        return ALG_PS256, n.n.to_bytes((bits + 7) // 8, "big"), n.e
    raise DscError("KEY_TYPE", f"{type(pub).__name__} keys cannot sign DCCs (ES256 or PS256 only)")


def signer_from_der(der: bytes, country: str, *, now: int | None = None) -> Signer:
    """Validate one DSC; DscError with a reason code if it cannot be trusted."""
    if not isinstance(der, bytes) or not der:
        raise DscError("NOT_A_CERTIFICATE", "empty certificate")
    if len(der) > MAX_DER:
        raise DscError("TOO_BIG", f"certificate of {len(der)} bytes (limit {MAX_DER})")
    if not isinstance(country, str) or not _COUNTRY.match(country):
        raise DscError("BAD_COUNTRY", "country must be two capital letters")
    try:
        cert = asn1_x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        not_before = _unix(tbs["validity"]["not_before"].native)
        not_after = _unix(tbs["validity"]["not_after"].native)
        spki_der = tbs["subject_public_key_info"].dump()
        subject_c = cert.subject.native.get("country_name")
        subject, issuer = cert.subject.human_friendly, cert.issuer.human_friendly
        types = _usage_types(cert)
    except DscError:
        raise
    except Exception as e:  # asn1crypto raises ValueError/TypeError/KeyError... on garbage
        raise DscError("NOT_A_CERTIFICATE", f"not an X.509 certificate: {type(e).__name__}") from None
    if subject_c is not None and subject_c != country:
        raise DscError("COUNTRY_MISMATCH", f"listed for {country}, certificate subject says {subject_c}")
    if not_after <= not_before:
        raise DscError("BAD_VALIDITY", "not_after is not after not_before")
    if now is not None and not_after < now:
        raise DscError("EXPIRED", "validity ended before the import time")
    alg, key, e = _key(spki_der)
    return Signer(kid_of(der), alg, key, e, not_before, not_after, country, types, der, subject, issuer)


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise DscError("BAD_ENTRY", f"{what} must be a string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DscError("BAD_BASE64", f"{what} is not base64") from None


def _entry(item: object, seen: set[bytes], now: int | None) -> Signer:
    if not isinstance(item, dict):
        raise DscError("BAD_ENTRY", "entry is not an object")
    kind = item.get("certificateType", "DSC")
    if kind != "DSC":
        raise DscError("BAD_ENTRY", "certificateType is not DSC")
    if not isinstance(item.get("rawData"), str) or len(item["rawData"]) > MAX_DER * 4 // 3 + 4:
        raise DscError("TOO_BIG" if isinstance(item.get("rawData"), str) else "BAD_ENTRY",
                       "rawData missing or too long")
    der = _b64(item["rawData"], "rawData")
    listed_kid = _b64(item.get("kid"), "kid")
    signer = signer_from_der(der, item.get("country"), now=now)
    if listed_kid != signer.kid:
        raise DscError("KID_MISMATCH", "kid is not SHA-256(rawData)[:8]")
    thumb = item.get("thumbprint")
    if thumb is not None and (not isinstance(thumb, str) or thumb.lower() != hashlib.sha256(der).hexdigest()):
        raise DscError("THUMBPRINT_MISMATCH", "thumbprint is not SHA-256(rawData)")
    if signer.kid in seen:
        raise DscError("DUPLICATE_KID", "kid listed twice")
    seen.add(signer.kid)
    return signer


def read_entries(data: bytes) -> list:
    """The list's raw entries; DscError if the file is not a usable list."""
    if len(data) > MAX_FILE:
        raise DscError("TOO_LARGE", f"trust list of {len(data)} bytes (limit {MAX_FILE})")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise DscError("BAD_JSON", f"not JSON: {e}") from None
    items = doc.get("certificates") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise DscError("NOT_A_LIST", 'expected {"certificates": [...]}')
    if len(items) > MAX_CERTS:
        raise DscError("TOO_MANY", f"{len(items)} certificates (limit {MAX_CERTS})")
    return items


def _text(item: object, key: str) -> str:
    v = item.get(key) if isinstance(item, dict) else None
    return v[:64] if isinstance(v, str) else ""


def list_entry(der: bytes, country: str, timestamp: str = "") -> dict:
    """One certificate in the gateway's JSON form (no CMS signature: a list
    made here for a test or demo gate is vouched for by whoever imports it)."""
    return {"certificateType": "DSC", "country": country, "kid": base64.b64encode(kid_of(der)).decode(),
            "rawData": base64.b64encode(der).decode(), "signature": "",
            "thumbprint": hashlib.sha256(der).hexdigest(), "timestamp": timestamp}


def trustlist_json(certificates: list[tuple[bytes, str]]) -> bytes:
    """A trust list file of (DER, country) pairs, as `parse_trustlist` reads it."""
    return json.dumps({"certificates": [list_entry(der, c) for der, c in certificates]}, indent=1).encode()


def check_entries(items: list, *, now: int | None = None) -> Iterator[Signer | Refused]:
    """Each entry of `read_entries` in order, as a Signer or a Refused
    (one at a time, so a caller can show progress)."""
    seen: set[bytes] = set()
    for item in items:
        try:
            yield _entry(item, seen, now)
        except DscError as e:
            yield Refused(_text(item, "kid"), _text(item, "country"), e.code, e.detail)


def parse_trustlist(data: bytes, *, now: int | None = None) -> TrustListResult:
    """Every certificate of a DSC trust list, accepted or refused with a reason.

    DscError only if the file itself is unusable (too large, not JSON, not a
    list, too many entries). `now` (unix seconds): refuse DSCs expired then.
    """
    signers: list[Signer] = []
    refused: list[Refused] = []
    for r in check_entries(read_entries(data), now=now):
        (signers if isinstance(r, Signer) else refused).append(r)
    return TrustListResult(signers, refused)
