# Claims of a GG1 pass: validate the decoded CWT map and check its time window.
#
# validate(cwt, now, skew, issuer=None) -> dict with readable keys, or raises
# errors.VerifyError with reason CLAIMS, EXPIRED, NOT_YET_VALID or CLOCK.
# The rules are docs/pass-format.md's reader rules; the host's reference
# (greengate/passes/claims.py) implements the same ones and tests compare both.
#
# The result reuses the decoded values (pairs stay the decoded 2-element lists)
# so a check allocates one small dict. Keys present only when the claim is:
#   iss, iat, exp, [nbf], [cti], role, [initials], [birth_year],
#   [vaccination: [doses, last_dose_day]], [test: [result, time]],
#   [f0: [status, day]], [health_decl: day], [business], [zone]
# Times are unix seconds (NumericDate), days are days since 1970-01-01.
from micropython import const

import errors
from verify import reasons

_ISS = const(1)
_EXP = const(4)
_NBF = const(5)
_IAT = const(6)
_CTI = const(7)
_GG = const(-65537)
# Not const(): above 31 bits it is a bigint on the ESP32 anyway.
_TIME_MAX = 0xFFFFFFFF
_DAY_MAX = const(0xFFFF)


def _bad(detail):
    return errors.VerifyError(reasons.CLAIMS, detail)


def _uint(v, lo, hi, what):
    # type() not isinstance(): CBOR true/false decode to bool, never a number here.
    if type(v) is not int or v < lo or v > hi:
        raise _bad(what)
    return v


def _text(v, hi, what):
    if type(v) is not str or not 1 <= len(v) <= hi:
        raise _bad(what)
    for ch in v:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0x9F:
            raise _bad(what)
    return v


def _pair(v, lo, hi, second_max, what):
    if type(v) is not list or len(v) != 2:
        raise _bad(what)
    _uint(v[0], lo, hi, what)
    _uint(v[1], 0, second_max, what)
    return v


# gg key -> (readable name, kind, lo, hi); kinds: 0 uint, 1 text (hi = max
# length), 2 pair (lo..hi for the first element; second is a day), 3 pair
# whose second element is a NumericDate.
_GG_RULES = (
    (1, "role", 0, 0, 4),
    (2, "initials", 1, 1, 6),
    (3, "birth_year", 0, 1900, 2100),
    (4, "vaccination", 2, 0, 9),
    (5, "test", 3, 0, 1),
    (6, "f0", 2, 0, 2),
    (7, "health_decl", 0, 0, _DAY_MAX),
    (8, "business", 1, 1, 16),
    (9, "zone", 0, 0, 3),
)


def validate(cwt, now, skew, issuer=None):
    if type(cwt) is not dict:
        raise _bad("payload not a map")
    if _ISS not in cwt or _IAT not in cwt or _EXP not in cwt or _GG not in cwt:
        raise _bad("iss/iat/exp/gg missing")
    out = {}
    out["iss"] = _text(cwt[_ISS], 32, "iss")
    iat = out["iat"] = _uint(cwt[_IAT], 0, _TIME_MAX, "iat")
    exp = out["exp"] = _uint(cwt[_EXP], 0, _TIME_MAX, "exp")
    nbf = None
    if _NBF in cwt:
        nbf = out["nbf"] = _uint(cwt[_NBF], 0, _TIME_MAX, "nbf")
    if _CTI in cwt:
        cti = cwt[_CTI]
        if type(cti) is not bytes or not 8 <= len(cti) <= 16:
            raise _bad("cti")
        out["cti"] = cti
    if iat > exp or (nbf is not None and nbf > exp):
        raise _bad("empty validity window")
    gg = cwt[_GG]
    if type(gg) is not dict:
        raise _bad("gg not a map")
    if 1 not in gg:
        raise _bad("role missing")
    for key, name, kind, lo, hi in _GG_RULES:
        if key not in gg:
            continue
        v = gg[key]
        if kind == 0:
            _uint(v, lo, hi, name)
        elif kind == 1:
            _text(v, hi, name)
        elif kind == 2:
            _pair(v, lo, hi, _DAY_MAX, name)
        else:
            _pair(v, lo, hi, _TIME_MAX, name)
        out[name] = v
    if issuer is not None and out["iss"] != issuer:
        # A key may only sign passes in its own issuer's name.
        raise _bad("iss does not match the signing key")
    if now is None:
        raise errors.VerifyError(reasons.CLOCK, "no trusted time")
    if now > exp + skew:
        raise errors.VerifyError(reasons.EXPIRED, "expired")
    if now < iat - skew or (nbf is not None and now < nbf - skew):
        raise errors.VerifyError(reasons.NOT_YET_VALID, "not yet valid")
    return out
