# Offline check of one EU Digital COVID Certificate ("HC1:") -> verdict:
# the work behind verify/dcc.py DccVerifier.check, loaded only while a DCC is
# checked (verify/dcc.py RARE: the app drops it after every DCC scan).
#
#   check(verifier, qr_text, now) -> Result    never raises
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
#   the fields the site rules read (verify/dccfields.py, dates parsed) -> CLAIMS
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
from micropython import const

import errors
from verify import reasons
from verify.verifier import Result

_ES256 = const(-7)
_TYPE_BITS = {"v": 1, "t": 2, "r": 4}


def check(v, qr_text, now):
    d = None
    try:
        from verify import hc1

        reason, d = hc1.decode(qr_text)
        hc1 = None  # not held: _check drops the decoding modules
        if reason != reasons.OK:
            return Result(False, reason)
        r = _check(v, d, now)
        from verify import dccfields

        r.pass_hash = dccfields.signature_hash(d["alg"], d["signature"])
        r.hashes = (d["uci_h"], d["couci_h"]) if d["couci_h"] else (d["uci_h"],)
        return r
    except errors.GateError as e:
        return Result(False, e.reason, None, _pass_hash(d))
    except Exception:  # noqa: BLE001 - a verdict must always come out
        return Result(False, reasons.INTERNAL, None, _pass_hash(d))


def _pass_hash(d):
    # a refused DCC is still reported by its signature hash when it has one
    if d is None:
        return None
    try:
        from verify import dccfields

        return dccfields.signature_hash(d["alg"], d["signature"])
    except Exception:  # noqa: BLE001
        return None


def _signer(v, kid):
    # the table is opened for this lookup only: nothing of it stays in RAM
    # between scans (a LittleFS open is ~ms against ~300 ms of checking)
    from verify import dsc

    trust = dsc.open_files(v.snapshot, v.delta)
    try:
        return trust.lookup(kid)
    finally:
        trust.close()


def _check(v, d, now):
    s = _signer(v, d["kid"])
    if s is None:
        raise errors.VerifyError(reasons.KID_UNKNOWN, "no trusted signer with this kid")
    from verify import hc1

    tbs = hc1.to_be_signed(d)
    alg, key, types, not_before, not_after = s.alg, s.key, s.types, s.not_before, s.not_after
    s = hc1 = None
    if v.drop is not None:
        # The signature check is a DCC check's peak (PS256-4096: ~9.6 KB of
        # its own): the decoding and table modules are not needed any more,
        # so they go first (~1 KB; they load again for the next DCC).
        v.drop("verify.hc1", "codec.inflate", "verify.dsc")
    if alg != d["alg"]:
        ok = False
    elif alg == _ES256:
        from crypto import p256

        ok = p256.verify(key, d["signature"], tbs)
    else:
        from crypto import rsa_pss

        ok = rsa_pss.check(key, 65537, d["signature"], tbs, rsa_pss.SALT_AUTO) == rsa_pss.OK
    tbs = key = None
    if not ok:
        raise errors.VerifyError(reasons.SIGNATURE, "bad signature")
    if not types & _TYPE_BITS[d["type"]]:
        raise errors.VerifyError(reasons.DSC_TYPE, "signer may not sign this type")
    if now is None:
        raise errors.VerifyError(reasons.CLOCK, "no trusted time")
    skew = v.clock_skew
    if not_after and now > not_after:
        raise errors.VerifyError(reasons.EXPIRED, "signer certificate expired")
    if now < not_before:
        raise errors.VerifyError(reasons.NOT_YET_VALID, "signer certificate not yet valid")
    if now > d["exp"] + skew:
        raise errors.VerifyError(reasons.EXPIRED, "expired")
    if now < d["iat"] - skew:
        raise errors.VerifyError(reasons.NOT_YET_VALID, "not yet valid")
    from verify import dccfields

    return Result(True, reasons.OK, dccfields.rule_claims(d))
