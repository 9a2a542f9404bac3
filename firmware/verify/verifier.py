# Offline check of one scanned GG1 pass: QR text -> verdict + reason code.
#
#   Verifier(trust_store, clock_skew=300).check(qr_text, now) -> Result
#
# Pipeline (docs/pass-format.md, "Verification"; first failure decides):
#   trust store empty          -> NOT_PROVISIONED
#   qr.unwrap                  -> PREFIX / BASE45 / INFLATE
#   cose.parse_sign1           -> CBOR / COSE
#   alg != EdDSA (-8)          -> ALG
#   no usable key with the kid -> KID_UNKNOWN
#   no key verifies            -> SIGNATURE   (every key with the kid is tried)
#   cbor.loads(payload)        -> CBOR
#   claims.validate            -> CLAIMS / CLOCK / EXPIRED / NOT_YET_VALID
# check() never raises: a GateError becomes its reason, anything else INTERNAL.
# `now` is unix seconds (None when the device has no trusted time: CLOCK).
# pass_hash = SHA-256(COSE signature)[:16], set as soon as a signature parsed
# (revocation lists and scan reports use it; it identifies no person).
import hashlib

from micropython import const

import errors
from verify import reasons

_ALG_EDDSA = const(-8)


class Result:
    def __init__(self, verdict, reason, claims=None, pass_hash=None):
        self.verdict = verdict      # True = accept
        self.reason = reason        # reasons.* int (OK on accept)
        self.claims = claims        # dict (verify/claims.py) on accept, else None
        self.pass_hash = pass_hash  # 16 bytes or None

    def __repr__(self):
        return "Result(%s, %s)" % (
            "accept" if self.verdict else "reject",
            reasons.name(self.reason),
        )


class Verifier:
    def __init__(self, trust_store, clock_skew=300):
        # Imported here, not at module level: the scan path is loaded only
        # once a verifier exists (the boot path stays light).
        from codec import cbor
        from crypto import ed25519
        from verify import claims, cose, qr

        self.trust = trust_store
        self.clock_skew = clock_skew
        self._qr = qr
        self._cose = cose
        self._cbor = cbor
        self._ed25519 = ed25519
        self._claims = claims

    def check(self, qr_text, now):
        pass_hash = None
        try:
            if not len(self.trust):
                raise errors.VerifyError(reasons.NOT_PROVISIONED, "no trusted keys")
            sign1 = self._cose.parse_sign1(self._qr.unwrap(qr_text))
            pass_hash = hashlib.sha256(sign1.signature).digest()[:16]
            if sign1.alg != _ALG_EDDSA:
                raise errors.VerifyError(reasons.ALG, "not EdDSA")
            kid = sign1.kid
            entries = self.trust.entries_for(kid) if kid is not None else ()  # kid is bytes (cose.py)
            issuer = None
            tbs = None
            usable = False
            for prepared, key_issuer, not_after, _raw in entries:
                if not_after and now is not None and now > not_after:
                    continue  # this key's trust has ended
                usable = True
                if tbs is None:
                    tbs = self._cose.sig_structure(sign1)
                if self._ed25519.verify_prepared(prepared, sign1.signature, tbs):
                    issuer = key_issuer
                    break
            if not usable:
                raise errors.VerifyError(reasons.KID_UNKNOWN, "no trusted key with this kid")
            if issuer is None:
                raise errors.VerifyError(reasons.SIGNATURE, "bad signature")
            cwt = self._cbor.loads(sign1.payload)
            claims = self._claims.validate(cwt, now, self.clock_skew, issuer)
            return Result(True, reasons.OK, claims, pass_hash)
        except errors.GateError as e:
            return Result(False, e.reason, None, pass_hash)
        except Exception:  # noqa: BLE001 - a verdict must always come out
            return Result(False, reasons.INTERNAL, None, pass_hash)
