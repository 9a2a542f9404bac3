# Offline check of one EU Digital COVID Certificate ("HC1:") -> verdict.
#
#   DccVerifier(trust, clock_skew=300).check(qr_text, now) -> Result
#
# Pipeline (first failure decides; docs/pass-format.md, "EU DCC"):
#   hc1.decode                  -> PREFIX / BASE45 / INFLATE / CBOR / COSE / ALG / CLAIMS
#   signer by kid (verify/dsc.py trust table) absent -> KID_UNKNOWN
#   signature: ES256 (crypto/p256) or PS256 (crypto/rsa_pss, any salt length
#     the key allows); the signer's alg must be the header's -> SIGNATURE
#   the signer may sign this type (v/t/r, its extended key usage) -> DSC_TYPE
#   now None -> CLOCK; the signer's certificate outside its validity, or
#     now > exp + skew -> EXPIRED; now < its not_before or iat - skew ->
#     NOT_YET_VALID (the EU test corpus files a lapsed DSC under its
#     expiration check, not under an unknown signer)
#   the fields the site rules read (dates parsed)  -> CLAIMS
# check() never raises: a GateError becomes its reason, anything else INTERNAL.
#
# Result.pass_hash is the EU revocation hash SIGNATURE: SHA-256 of the
# signature (ES256: of r only) [:16]; Result.hashes adds UCI and
# COUNTRYCODEUCI (verify/hc1.py): the decider checks all three against the
# revocation store. Result.claims is the dict gate/rules.py reads, in the GG1
# shape where the meaning is the same:
#   fmt "dcc", type "v"/"t"/"r", role 0 (a member of the public), iss, iat,
#   exp, initials, birth_year,
#   v: vaccination [doses, day of last dose], complete (dn >= sd), product (mp)
#   t: test [0 negative | 1 positive | 2 any other tr value, sample time],
#      test_type (tt): an unknown result never passes TEST nor counts as F0
#   r: recovery [day of first positive, valid from day, valid until day]
# Days are days since 1970-01-01, times unix seconds. Nothing else (no name,
# no identifier) leaves this module.
import hashlib

from micropython import const

import errors
from verify import reasons
from verify.verifier import Result

_ES256 = const(-7)
_TYPE_BITS = {"v": 1, "t": 2, "r": 4}
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


class DccVerifier:
    def __init__(self, trust, clock_skew=300):
        from crypto import p256, rsa_pss
        from verify import hc1

        self.trust = trust          # verify/dsc.py Trust (lookup by kid)
        self.clock_skew = clock_skew
        self._hc1 = hc1
        self._p256 = p256
        self._rsa = rsa_pss
        # ES256: the comb table of the signer seen twice in a row (2 KB;
        # most scans at a gate carry one country's DSC): 1.8 ms per verify
        # instead of 4.4 ms one-shot (docs/benchmarks.md)
        self._seen = None     # kid of the last ES256 signer
        self._prepared = None  # (kid, p256.PreparedKey) or None

    def _es256(self, s, sig, tbs):
        p = self._prepared
        if p is not None and p[0] == s.kid:
            return self._p256.verify_prepared(p[1], sig, tbs)
        if self._seen == s.kid:
            self._prepared = None  # the old table goes before the new one is built
            try:
                key = self._p256.prepare(s.key)
            except MemoryError:
                key = None  # a fragmented heap: one-shot verify needs no 2 KB block
            if key is not None:
                self._prepared = (s.kid, key)
                return self._p256.verify_prepared(key, sig, tbs)
        self._seen = s.kid
        return self._p256.verify(s.key, sig, tbs)

    def check(self, qr_text, now):
        pass_hash = None
        try:
            reason, d = self._hc1.decode(qr_text)
            if reason != reasons.OK:
                return Result(False, reason)
            pass_hash = signature_hash(d["alg"], d["signature"])
            r = self._check(d, now)
            r.pass_hash = pass_hash
            r.hashes = (d["uci_h"], d["couci_h"]) if d["couci_h"] else (d["uci_h"],)
            return r
        except errors.GateError as e:
            return Result(False, e.reason, None, pass_hash)
        except Exception:  # noqa: BLE001 - a verdict must always come out
            return Result(False, reasons.INTERNAL, None, pass_hash)

    def _check(self, d, now):
        s = self.trust.lookup(d["kid"])
        if s is None:
            raise errors.VerifyError(reasons.KID_UNKNOWN, "no trusted signer with this kid")
        tbs = self._hc1.to_be_signed(d)
        if s.alg != d["alg"]:
            ok = False
        elif s.alg == _ES256:
            ok = self._es256(s, d["signature"], tbs)
        else:
            ok = self._rsa.check(s.key, 65537, d["signature"], tbs,
                                 self._rsa.SALT_AUTO) == self._rsa.OK
        tbs = None
        if not ok:
            raise errors.VerifyError(reasons.SIGNATURE, "bad signature")
        if not s.types & _TYPE_BITS[d["type"]]:
            raise errors.VerifyError(reasons.DSC_TYPE, "signer may not sign this type")
        if now is None:
            raise errors.VerifyError(reasons.CLOCK, "no trusted time")
        skew = self.clock_skew
        if s.not_after and now > s.not_after:
            raise errors.VerifyError(reasons.EXPIRED, "signer certificate expired")
        if now < s.not_before:
            raise errors.VerifyError(reasons.NOT_YET_VALID, "signer certificate not yet valid")
        if now > d["exp"] + skew:
            raise errors.VerifyError(reasons.EXPIRED, "expired")
        if now < d["iat"] - skew:
            raise errors.VerifyError(reasons.NOT_YET_VALID, "not yet valid")
        return Result(True, reasons.OK, rule_claims(d))
