"""Reference DCC verifier on the host (CPython: base45, zlib, cbor2,
cryptography), written apart from the device's firmware/verify/dcc.py with
the same pipeline, limits and reason codes so differential tests catch a bug
in either one (docs/pass-format.md, "EU DCC"):

  "HC1:" -> PREFIX; base45 (text <= 4,096 chars) -> BASE45; zlib required,
  <= 2 KiB -> INFLATE; COSE_Sign1 -> COSE; protected alg ES256/PS256 -> ALG;
  kid 8 bytes -> COSE; payload -> CBOR; hcert fields -> CLAIMS;
  signer by kid -> KID_UNKNOWN; signature -> SIGNATURE; the signer's types
  -> DSC_TYPE; clock -> CLOCK; the signer's validity, then exp / iat ->
  EXPIRED / NOT_YET_VALID;
  the dates the rules read -> CLAIMS.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from greengate.passes import reasons
from greengate.passes.verify import Reject, cbor_loads, inflate, parse_sign1, sig_structure

PREFIX = "HC1:"
MAX_TEXT = 4096
INFLATE_CAP = 2048
ES256, PS256 = -7, -37
NEGATIVE, POSITIVE = "260415000", "260373001"
DEFAULT_SKEW = 300
_FIELDS = {"v": (("dn", int), ("sd", int), ("dt", str), ("mp", str)),
           "t": (("tt", str), ("sc", str), ("tr", str)),
           "r": (("fr", str), ("df", str), ("du", str))}
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?\Z", re.S)
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
                   r"(Z|[+-]\d{2}(?::?\d{2})?)?)?\Z")


@dataclass
class Result:
    verdict: bool
    reason: int
    claims: dict | None = None
    pass_hash: bytes | None = None
    hashes: tuple = ()


def _claims(detail: str) -> Reject:
    return Reject(reasons.CLAIMS, detail)


def day_of(s: str) -> int:
    m = _DATE.match(s)
    if not m or not s.isascii():
        raise _claims("date")
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).toordinal() - 719163
    except ValueError:
        raise _claims("date") from None


def time_of(s: str) -> int:
    m = _TIME.match(s) if s.isascii() else None
    if not m:
        raise _claims("time")
    t = day_of(m[1]) * 86400
    if m[2] is None:
        if len(s) != 10:
            raise _claims("time")
        return t
    hh, mm, ss = int(m[2]), int(m[3]), int(m[4] or 0)
    if hh > 23 or mm > 59 or ss > 60:
        raise _claims("time")
    off = 0
    z = m[5]
    if z and z != "Z":
        digits = z[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:] or 0)
        if oh > 14 or om > 59:
            raise _claims("zone")
        off = (oh * 3600 + om * 60) * (1 if z[0] == "+" else -1)
    return t + hh * 3600 + mm * 60 + ss - off


def decode(text: str | bytes) -> dict:
    """The decoding layers; Reject with the device's reason on failure."""
    if isinstance(text, str):
        data = text.encode("utf-8", "surrogatepass")
    else:
        data = bytes(text)
    if len(text) > MAX_TEXT:
        raise Reject(reasons.BASE45, "text too long")
    data = data.rstrip(b"\r\n")
    if not data.startswith(PREFIX.encode()):
        raise Reject(reasons.PREFIX, "not HC1:")
    try:
        body = base45.b45decode(data[4:])
    except (ValueError, TypeError):
        raise Reject(reasons.BASE45, "not base45") from None
    s = parse_sign1(inflate(body, INFLATE_CAP))  # zlib required here
    alg = s.phdr.get(1)
    if type(alg) is not int or alg not in (ES256, PS256):
        raise Reject(reasons.ALG, "alg")
    if not isinstance(s.kid, bytes) or len(s.kid) != 8:
        raise Reject(reasons.COSE, "kid")
    try:
        claims = cbor_loads(s.payload, INFLATE_CAP)
    except ValueError:
        raise Reject(reasons.CBOR, "payload") from None
    return _fields(s, alg, claims)


def _fields(s, alg: int, claims) -> dict:
    def need(cond, what):
        if not cond:
            raise _claims(what)

    need(type(claims) is dict, "payload")
    iss = claims.get(1)
    need(iss is None or type(iss) is str, "iss")
    r = {"alg": alg, "kid": s.kid, "signature": s.signature, "tbs": sig_structure(s), "iss": iss}
    for label, key in ((4, "exp"), (6, "iat")):
        v = claims.get(label)
        if type(v) is float and -2e9 < v < 4e9:
            v = int(v)
        need(type(v) is int, key)
        r[key] = v
    h = claims.get(-260)
    need(type(h) is dict and type(h.get(1)) is dict, "hcert")
    h = h[1]
    kinds = [k for k in "vtr" if h.get(k) is not None]
    need(len(kinds) == 1, "type")
    kind = kinds[0]
    need(type(h[kind]) is list and h[kind], "entries")
    e = h[kind][-1]
    need(type(e) is dict, "entry")
    ci = e.get("ci")
    need(type(ci) is str and ci, "ci")
    r["type"] = kind
    r["uci_h"] = hashlib.sha256(ci.encode()).digest()[:16]
    r["couci_h"] = hashlib.sha256((iss + ci).encode()).digest()[:16] if iss else None
    for key, typ in _FIELDS[kind]:
        v = e.get(key)
        if isinstance(v, cbor2.CBORTag) and v.tag == 0:
            v = v.value
        need(type(v) is typ, key)
        r[key] = v
    nam = h.get("nam")
    need(type(nam) is dict, "nam")
    ini = ""
    for key in ("fnt", "gnt"):
        v = nam.get(key)
        need(v is None or type(v) is str, key)
        if v and "A" <= v[0] <= "Z":
            ini += v[0]
    dob = h.get("dob")
    need(type(dob) is str, "dob")
    r["ini"] = ini
    r["yob"] = int(dob[:4]) if len(dob) >= 4 and all("0" <= c <= "9" for c in dob[:4]) else None
    return r


def signature_hash(alg: int, sig: bytes) -> bytes:
    return hashlib.sha256(sig[: len(sig) // 2] if alg == ES256 else sig).digest()[:16]


def rule_claims(d: dict) -> dict:
    out = {"fmt": "dcc", "type": d["type"], "role": 0, "iss": d["iss"], "iat": d["iat"], "exp": d["exp"],
           "initials": d["ini"] or None, "birth_year": d["yob"]}
    if d["type"] == "v":
        out.update(vaccination=[d["dn"], day_of(d["dt"])], complete=d["dn"] >= d["sd"] and d["dn"] > 0,
                   product=d["mp"])
    elif d["type"] == "t":
        result = {NEGATIVE: 0, POSITIVE: 1}.get(d["tr"], 2)  # 2: unknown, never a negative test
        out.update(test=[result, time_of(d["sc"])], test_type=d["tt"])
    else:
        out["recovery"] = [day_of(d["fr"]), day_of(d["df"]), day_of(d["du"])]
    return out


def _signature_ok(signer, d: dict) -> bool:
    if signer.alg != d["alg"]:
        return False
    sig, tbs = d["signature"], d["tbs"]
    try:
        if signer.alg == ES256:
            if len(sig) != 64:
                return False
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), signer.key if len(signer.key) == 65 else b"\x04" + signer.key)
            der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            key.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
        else:
            n = int.from_bytes(signer.key, "big")
            key = rsa.RSAPublicNumbers(65537, n).public_key()
            if len(sig) != (n.bit_length() + 7) // 8:
                return False
            key.verify(sig, tbs, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


class Verifier:
    """signers: objects with kid, alg, key, not_before, not_after, types
    (greengate.dcc.trustlist.Signer); the first with a kid counts."""

    def __init__(self, signers: Iterable, clock_skew: int = DEFAULT_SKEW):
        self.by_kid = {}
        for s in signers:
            self.by_kid.setdefault(bytes(s.kid), s)
        self.clock_skew = clock_skew

    def check(self, text: str | bytes, now: int | None) -> Result:
        pass_hash = None
        try:
            d = decode(text)
            pass_hash = signature_hash(d["alg"], d["signature"])
            hashes_ = (d["uci_h"], d["couci_h"]) if d["couci_h"] else (d["uci_h"],)
            s = self.by_kid.get(d["kid"])
            if s is None:
                raise Reject(reasons.KID_UNKNOWN, "signer")
            if not _signature_ok(s, d):
                raise Reject(reasons.SIGNATURE, "signature")
            if s.types and d["type"] not in s.types:
                raise Reject(reasons.DSC_TYPE, "type")
            if now is None:
                raise Reject(reasons.CLOCK, "clock")
            if s.not_after and now > s.not_after:
                raise Reject(reasons.EXPIRED, "signer certificate expired")
            if now < s.not_before:
                raise Reject(reasons.NOT_YET_VALID, "signer certificate not yet valid")
            if now > d["exp"] + self.clock_skew:
                raise Reject(reasons.EXPIRED, "expired")
            if now < d["iat"] - self.clock_skew:
                raise Reject(reasons.NOT_YET_VALID, "not yet valid")
            return Result(True, reasons.OK, rule_claims(d), pass_hash, hashes_)
        except Reject as e:
            return Result(False, e.reason, None, pass_hash)
