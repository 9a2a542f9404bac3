# The fields of a verified EU DCC the site rules read (verify/dcc.py): dates
# parsed, the EU revocation hash SIGNATURE. Loaded only while a DCC is
# checked (verify/dcc.py RARE: the app drops it after a DCC scan).
import hashlib

from micropython import const

import errors
from verify import reasons

_ES256 = const(-7)
_NEGATIVE = "260415000"   # SNOMED CT "not detected"
_POSITIVE = "260373001"   # SNOMED CT "detected"


def _claims(detail):
    return errors.VerifyError(reasons.CLAIMS, detail)


def _digits(s, i, n):
    v = 0
    for k in range(i, i + n):
        c = ord(s[k]) - 48
        if not 0 <= c <= 9:
            raise _claims("date")
        v = v * 10 + c
    return v


def days(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (no range check)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def day_of(s):
    """'YYYY-MM-DD' (a time after it is ignored) -> day number; CLAIMS if not a date."""
    if len(s) < 10 or s[4] != "-" or s[7] != "-" or (len(s) > 10 and s[10] not in "T "):
        raise _claims("date")
    y = _digits(s, 0, 4)
    m = _digits(s, 5, 2)
    d = _digits(s, 8, 2)
    if not (1 <= m <= 12 and 1 <= d <= _MONTH_DAYS[m - 1]):
        raise _claims("date")
    return days(y, m, d)


def time_of(s):
    """ISO 8601 date-time (YYYY-MM-DDTHH:MM[:SS[.f]][Z|+-HH[:]MM], no zone =
    UTC) -> unix seconds; CLAIMS if it is not one."""
    t = day_of(s) * 86400
    n = len(s)
    if n == 10:
        return t
    if n < 16 or s[13] != ":":
        raise _claims("time")
    hh = _digits(s, 11, 2)
    mm = _digits(s, 14, 2)
    ss = 0
    i = 16
    if i < n and s[i] == ":":
        ss = _digits(s, i + 1, 2)
        i += 3
        if i < n and s[i] in ".,":
            i += 1
            j = i
            while i < n and "0" <= s[i] <= "9":
                i += 1
            if i == j:
                raise _claims("time")
    if hh > 23 or mm > 59 or ss > 60:
        raise _claims("time")
    off = 0
    if i < n:
        c = s[i]
        if c == "Z" and i + 1 == n:
            pass
        elif c in "+-":
            rest = s[i + 1:]
            if len(rest) == 5 and rest[2] == ":":
                oh, om = _digits(rest, 0, 2), _digits(rest, 3, 2)
            elif len(rest) == 4:
                oh, om = _digits(rest, 0, 2), _digits(rest, 2, 2)
            elif len(rest) == 2:
                oh, om = _digits(rest, 0, 2), 0
            else:
                raise _claims("zone")
            if oh > 14 or om > 59:
                raise _claims("zone")
            off = (oh * 3600 + om * 60) * (1 if c == "+" else -1)
        else:
            raise _claims("zone")
    return t + hh * 3600 + mm * 60 + ss - off


def signature_hash(alg, signature):
    """EU revocation hash type SIGNATURE: ES256 hashes r (the first half) only."""
    sig = signature[:len(signature) // 2] if alg == _ES256 else signature
    return hashlib.sha256(sig).digest()[:16]


def rule_claims(d):
    """hc1.decode's dict -> the dict gate/rules.py reads."""
    out = {"fmt": "dcc", "type": d["type"], "role": 0, "iss": d["iss"], "iat": d["iat"],
           "exp": d["exp"], "initials": d["ini"] or None, "birth_year": d["yob"]}
    kind = d["type"]
    if kind == "v":
        out["vaccination"] = [d["dn"], day_of(d["dt"])]
        out["complete"] = d["dn"] >= d["sd"] and d["dn"] > 0
        out["product"] = d["mp"]
    elif kind == "t":
        tr = d["tr"]
        out["test"] = [0 if tr == _NEGATIVE else 1 if tr == _POSITIVE else 2, time_of(d["sc"])]
        out["test_type"] = d["tt"]
    else:
        out["recovery"] = [day_of(d["fr"]), day_of(d["df"]), day_of(d["du"])]
    return out
