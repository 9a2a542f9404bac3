"""Reference verifier (CPython: base45, zlib, cbor2, cryptography).

Same pipeline, same limits and same reason codes as the device's
firmware/verify/verifier.py (docs/pass-format.md, "Verification"), written
independently so that differential tests catch a bug in either one:

  no trusted keys -> NOT_PROVISIONED; text -> PREFIX/BASE45/INFLATE;
  COSE envelope -> COSE; alg -> ALG; kid -> KID_UNKNOWN; signature -> SIGNATURE;
  payload -> CBOR; claims -> CLAIMS/CLOCK/EXPIRED/NOT_YET_VALID.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass
from typing import Any

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from greengate.passes import reasons
from greengate.passes.claims import ClaimsError, PassClaims
from greengate.passes.keys import TrustEntry

PREFIX = b"GG1:"
MAX_TEXT = 4400  # characters after the line terminator is stripped
INFLATE_CAP = 2048  # bytes of COSE a zlib body may inflate to
MAX_COSE = 16384
MAX_CBOR = 65536
MAX_DEPTH = 16  # nested arrays/maps/tags
BIGNUM_MAX_BITS = 64 * 8
ALG_EDDSA = -8
TAG_SIGN1, TAG_CWT = 18, 61
DEFAULT_SKEW = 300

# cbor2 decodes these tags into Python objects (dates, decimals...); the device
# keeps them as plain tags. Bignums (2, 3) become ints on both.
_SEMANTIC_TAGS = (0, 1, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258,
                  260, 261, 1004, 43000, 55799)
_RAW_TAGS = {t: (lambda tag: lambda value, _immutable: cbor2.CBORTag(tag, value))(t)
             for t in _SEMANTIC_TAGS}


class Reject(Exception):
    def __init__(self, reason: int, detail: str = ""):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Result:
    verdict: bool
    reason: int
    claims: dict | None = None  # readable dict, same shape as the device's
    pass_hash: bytes | None = None

    @property
    def reason_name(self) -> str:
        return reasons.name(self.reason)


# -- layers --------------------------------------------------------------------


def unwrap(text: str | bytes) -> bytes:
    """QR text -> COSE bytes (prefix, base45, optional zlib)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    data = data.rstrip(b"\r\n")
    if len(data) > MAX_TEXT:
        raise Reject(reasons.BASE45, "text too long")
    if not data.startswith(PREFIX):
        raise Reject(reasons.PREFIX, "missing GG1: prefix")
    try:
        body = base45.b45decode(data[len(PREFIX):])
    except (ValueError, TypeError):
        raise Reject(reasons.BASE45, "not base45") from None
    if body[:1] == b"\x78":
        body = inflate(body)
    return body


def inflate(body: bytes, cap: int = INFLATE_CAP) -> bytes:
    """One zlib stream, nothing after it, inflating to at most `cap` bytes."""
    d = zlib.decompressobj(15)
    try:
        out = d.decompress(body, cap + 1)
    except zlib.error:
        raise Reject(reasons.INFLATE, "bad zlib stream") from None
    if len(out) > cap or not d.eof or d.unused_data or d.unconsumed_tail:
        raise Reject(reasons.INFLATE, "bad zlib stream or over the cap")
    return out


def _normalise(obj: Any, depth: int) -> Any:
    """Apply the device decoder's limits that cbor2 does not enforce, and undo
    cbor2's immutable containers (tuple/frozendict inside tags) so values have
    the device's types (list/dict)."""
    if isinstance(obj, (list, tuple, dict, cbor2.CBORTag)):
        if depth >= MAX_DEPTH:
            raise ValueError("nesting too deep")
        if isinstance(obj, (list, tuple)):
            return [_normalise(v, depth + 1) for v in obj]
        if isinstance(obj, dict):  # frozendict is a Mapping, not a dict
            out = {}
            for k, v in obj.items():
                if type(k) not in (int, str, bytes):
                    raise ValueError("map key type")
                out[k] = _normalise(v, depth + 1)
            return out
        return cbor2.CBORTag(obj.tag, _normalise(obj.value, depth + 1))
    if hasattr(obj, "items") and hasattr(obj, "keys"):  # cbor2 frozendict
        return _normalise(dict(obj.items()), depth)
    if type(obj) is int and obj.bit_length() > BIGNUM_MAX_BITS:
        raise ValueError("bignum too long")
    return obj


def cbor_loads(data: bytes, max_bytes: int = MAX_CBOR) -> Any:
    """cbor2 with the device's rules: one item, no trailing bytes, no
    duplicate keys, keys int/str/bytes, limited depth. Raises ValueError."""
    if len(data) > max_bytes:
        raise ValueError("too long")
    fp = io.BytesIO(data)
    try:
        obj = cbor2.CBORDecoder(
            fp, semantic_decoders=_RAW_TAGS, allow_duplicate_keys=False, max_depth=64
        ).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError, OverflowError) as e:
        raise ValueError(str(e)) from None
    if fp.tell() != len(data):
        raise ValueError("trailing bytes")
    return _normalise(obj, 0)


@dataclass
class Sign1:
    protected: bytes
    phdr: dict
    uhdr: dict
    payload: bytes
    signature: bytes
    alg: Any
    kid: Any


def parse_sign1(data: bytes) -> Sign1:
    def bad(detail: str) -> Reject:
        return Reject(reasons.COSE, detail)

    try:
        obj = cbor_loads(data, MAX_COSE)
    except ValueError as e:
        raise bad(f"not CBOR: {e}") from None
    if isinstance(obj, cbor2.CBORTag) and obj.tag == TAG_CWT:
        obj = obj.value
        if not isinstance(obj, cbor2.CBORTag):
            raise bad("CWT tag without COSE tag")
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != TAG_SIGN1:
            raise bad("not COSE_Sign1")
        obj = obj.value
    if type(obj) is not list or len(obj) != 4:
        raise bad("not a 4-element array")
    protected, uhdr, payload, signature = obj
    if type(protected) is not bytes:
        raise bad("protected not bstr")
    if protected:
        try:
            phdr = cbor_loads(protected)
        except ValueError as e:
            raise bad(f"protected header: {e}") from None
    else:
        phdr = {}
    for h in (phdr, uhdr):
        if type(h) is not dict or any(type(k) not in (int, str) for k in h):
            raise bad("header not a map with int/text labels")
    if type(payload) is not bytes:
        raise bad("payload missing or not bstr")
    if type(signature) is not bytes:
        raise bad("signature not bstr")
    def header(label: int) -> Any:
        # Protected wins; present-but-nil is malformed, not absent.
        for h in (phdr, uhdr):
            if label in h:
                if h[label] is None:
                    raise bad(f"header {label} is nil")
                return h[label]
        return None

    alg = header(1)
    if alg is not None and type(alg) is not int:
        raise bad("alg not an int")
    kid = header(4)
    if kid is not None and type(kid) is not bytes:
        raise bad("kid not bstr")
    return Sign1(protected, phdr, uhdr, payload, signature, alg, kid)


def sig_structure(s: Sign1) -> bytes:
    return cbor2.dumps(["Signature1", s.protected, b"", s.payload])


# -- Ed25519 key policy (the device's ed25519.prepare) ---------------------------------

_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(raw: bytes) -> tuple[int, int] | None:
    y = int.from_bytes(raw, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _add(p1, p2):
    (x1, y1), (x2, y2) = p1, p2
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


def usable_public_key(raw: bytes) -> bool:
    """Canonical, on the curve, not "-0", not of small order (8A != identity)."""
    if len(raw) != 32:
        return False
    pt = _decode_point(raw)
    if pt is None:
        return False
    q = pt
    for _ in range(3):
        q = _add(q, q)
    return q != (0, 1)


# -- verifier ------------------------------------------------------------------------


class Verifier:
    def __init__(self, trust: list[TrustEntry], clock_skew: int = DEFAULT_SKEW):
        self.clock_skew = clock_skew
        self.skipped: list[TrustEntry] = []  # keys the device would refuse too
        self._by_kid: dict[bytes, list[tuple[Ed25519PublicKey, TrustEntry]]] = {}
        for e in trust:
            if not usable_public_key(e.public_key):
                self.skipped.append(e)
                continue
            lst = self._by_kid.setdefault(e.kid, [])
            if any(t.public_key == e.public_key for _, t in lst):
                continue
            lst.append((Ed25519PublicKey.from_public_bytes(e.public_key), e))

    def check(self, qr_text: str | bytes, now: int | None) -> Result:
        pass_hash = None
        try:
            if not self._by_kid:
                raise Reject(reasons.NOT_PROVISIONED, "no trusted keys")
            s = parse_sign1(unwrap(qr_text))
            pass_hash = hashlib.sha256(s.signature).digest()[:16]
            if s.alg != ALG_EDDSA:
                raise Reject(reasons.ALG, "not EdDSA")
            candidates = [
                (pub, e)
                for pub, e in self._by_kid.get(s.kid, []) if s.kid is not None
                if not (e.not_after and now is not None and now > e.not_after)
            ]
            if not candidates:
                raise Reject(reasons.KID_UNKNOWN, "no trusted key with this kid")
            tbs = sig_structure(s)
            issuer = None
            for pub, e in candidates:
                try:
                    pub.verify(s.signature, tbs)
                except InvalidSignature:
                    continue
                issuer = e.issuer
                break
            if issuer is None:
                raise Reject(reasons.SIGNATURE, "bad signature")
            try:
                cwt = cbor_loads(s.payload)
            except ValueError as e:
                raise Reject(reasons.CBOR, str(e)) from None
            claims = check_claims(cwt, now, self.clock_skew, issuer)
            return Result(True, reasons.OK, claims, pass_hash)
        except Reject as e:
            return Result(False, e.reason, None, pass_hash)
        except Exception:  # noqa: BLE001 - the device never raises either
            return Result(False, reasons.INTERNAL, None, pass_hash)


def signed_claims(qr_text: str | bytes) -> dict | None:
    """The readable claims of a pass a verifier has already checked the
    signature of (EXPIRED, NOT_YET_VALID: readable, just not valid at that
    time); None when they cannot be read. Never call it to decide a verdict."""
    try:
        s = parse_sign1(unwrap(qr_text))
        return PassClaims.from_cwt(cbor_loads(s.payload)).readable()
    except (Reject, ClaimsError, ValueError):
        return None


def check_claims(cwt: Any, now: int | None, skew: int, issuer: str | None = None) -> dict:
    """Reader rules + issuer match + time window; returns the readable dict."""
    try:
        claims = PassClaims.from_cwt(cwt)
    except ClaimsError as e:
        raise Reject(reasons.CLAIMS, str(e)) from None
    if issuer is not None and claims.iss != issuer:
        raise Reject(reasons.CLAIMS, "iss does not match the signing key")
    if now is None:
        raise Reject(reasons.CLOCK, "no trusted time")
    if now > claims.exp + skew:
        raise Reject(reasons.EXPIRED, "expired")
    if now < claims.iat - skew or (claims.nbf is not None and now < claims.nbf - skew):
        raise Reject(reasons.NOT_YET_VALID, "not yet valid")
    return claims.readable()
