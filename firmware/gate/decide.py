# The decision pipeline: one scanned QR text -> one Decision.
#
#   Decider(verifier, revocations, config, occupancy, clock, sync=None, dcc=None)
#   .decide(qr_text, now) -> Decision(verdict, reason, role, initials,
#                                     birth_year, pass_hash, fmt)
#
# Order (first failure decides):
#   no config / no revocation store / empty trust list -> NOT_PROVISIONED
#   format not in the site's config key 9              -> FORMAT
#   "HC1:" (EU DCC) without a DCC trust table (dcc)    -> NOT_PROVISIONED
#   verifier.check / dcc.check (format, signature, claims, pass validity)
#   revocation store (a DCC: its SIGNATURE, UCI and
#     COUNTRYCODEUCI hashes)                           -> REVOKED
#   site rules (gate/rules.py)                         -> their reason
#   signed lists too old (sync.stale; a DCC: the DCC
#     table, revocation and config)                    -> OUT_OF_SYNC
#     (only replaces an ADMIT: a denial keeps its own reason)
# Decision.fmt is None for GG1 (the screens show the role) and for a DCC
# "dcc" or, once verified, "v" complete vaccination, "p" partial, "t" test,
# "r" recovery (the screens show the format instead of a role).
# An admission is recorded in `occupancy` (count + duplicate window).
# decide() never raises: anything unexpected is INTERNAL (deny).
from verify import reasons


class Decision:
    def __init__(self, verdict, reason, role=None, initials=None, birth_year=None, pass_hash=None,
                 fmt=None):
        self.verdict = verdict
        self.reason = reason
        self.role = role
        self.initials = initials
        self.birth_year = birth_year
        self.pass_hash = pass_hash
        self.fmt = fmt

    def __repr__(self):
        return "Decision(%s, %s)" % ("admit" if self.verdict else "deny", reasons.name(self.reason))


_DCC_LISTS = (7, 3, 1)  # a DCC needs the DCC table, revocation and config fresh


def _head(text):
    if isinstance(text, str):
        return text[:4]
    try:
        return str(bytes(text[:4]), "ascii")
    except Exception:  # noqa: not ASCII: neither format
        return ""


def _is_dcc(text):
    return _head(text) == "HC1:"


def _is_gg1(text):
    return _head(text) == "GG1:"


def _trusted(clock):
    if clock is None:
        return True
    t = getattr(clock, "trusted", True)
    return t() if callable(t) else bool(t)


class Decider:
    def __init__(self, verifier, revocations, config, occupancy, clock, sync=None, dcc=None):
        from gate import rules

        self.dcc = dcc  # verify/dcc.py DccVerifier, None without a DCC trust table
        self.verifier = verifier
        self.revocations = revocations
        self.config = config
        self.occupancy = occupancy
        self.clock = clock
        self.sync = sync
        self._rules = rules

    def decide(self, qr_text, now):
        try:
            return self._decide(qr_text, now)
        except Exception:  # noqa: a verdict must always come out
            return Decision(False, reasons.INTERNAL)

    def _decide(self, qr_text, now):
        if self.config is None or self.revocations is None or self.verifier is None:
            return Decision(False, reasons.NOT_PROVISIONED)
        t = now if _trusted(self.clock) else None
        formats = getattr(self.config, "formats", (1,))
        if _is_dcc(qr_text):
            if 2 not in formats:
                return Decision(False, reasons.FORMAT, fmt="dcc")
            if self.dcc is None:
                return Decision(False, reasons.NOT_PROVISIONED, fmt="dcc")
            res = self.dcc.check(qr_text, t)
            if not res.verdict:
                return Decision(False, res.reason, pass_hash=res.pass_hash, fmt="dcc")
            fmt = res.claims["type"]
            if fmt == "v" and not res.claims["complete"]:
                fmt = "p"
            stale_kinds = _DCC_LISTS
        else:
            if 1 not in formats and _is_gg1(qr_text):
                return Decision(False, reasons.FORMAT)
            res = self.verifier.check(qr_text, t)
            if not res.verdict:
                return Decision(False, res.reason, pass_hash=res.pass_hash)
            fmt = None
            stale_kinds = None
        c = res.claims
        h = res.pass_hash
        d = Decision(False, reasons.OK, c.get("role"), c.get("initials"), c.get("birth_year"), h, fmt)
        if self.revocations.contains(h):
            d.reason = reasons.REVOKED
            return d
        for x in getattr(res, "hashes", ()):
            if self.revocations.contains(x):
                d.reason = reasons.REVOKED
                return d
        r = self._rules.evaluate(self.config, c, h, t, self.occupancy)
        if r != reasons.OK:
            d.reason = r
            return d
        if self.sync is not None:
            if stale_kinds is None:
                kind = self.sync.stale(t, self.config.max_age)
            else:
                kind = self.sync.stale(t, self.config.max_age, stale_kinds)
            if kind is not None:
                d.reason = (reasons.NOT_PROVISIONED if self.sync.applied(kind) is None
                            else reasons.OUT_OF_SYNC)
                return d
        d.verdict = True
        if self.occupancy is not None:
            self.occupancy.admit(h, t)
        return d
