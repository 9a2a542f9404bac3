# The decision pipeline: one scanned QR text -> one Decision.
#
#   Decider(verifier, revocations, config, occupancy, clock, sync=None)
#   .decide(qr_text, now) -> Decision(verdict, reason, role, initials,
#                                     birth_year, pass_hash)
#
# Order (first failure decides):
#   no config / no revocation store / empty trust list -> NOT_PROVISIONED
#   verifier.check (format, signature, claims, pass validity)
#   revocation store                                   -> REVOKED
#   site rules (gate/rules.py)                         -> their reason
#   signed lists too old (sync.stale)                  -> OUT_OF_SYNC
#     (only replaces an ADMIT: a denial keeps its own reason)
# An admission is recorded in `occupancy` (count + duplicate window).
# decide() never raises: anything unexpected is INTERNAL (deny).
from verify import reasons


class Decision:
    def __init__(self, verdict, reason, role=None, initials=None, birth_year=None, pass_hash=None):
        self.verdict = verdict
        self.reason = reason
        self.role = role
        self.initials = initials
        self.birth_year = birth_year
        self.pass_hash = pass_hash

    def __repr__(self):
        return "Decision(%s, %s)" % ("admit" if self.verdict else "deny", reasons.name(self.reason))


def _trusted(clock):
    if clock is None:
        return True
    t = getattr(clock, "trusted", True)
    return t() if callable(t) else bool(t)


class Decider:
    def __init__(self, verifier, revocations, config, occupancy, clock, sync=None):
        from gate import rules

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
        res = self.verifier.check(qr_text, t)
        if not res.verdict:
            return Decision(False, res.reason, pass_hash=res.pass_hash)
        c = res.claims
        h = res.pass_hash
        d = Decision(False, reasons.OK, c.get("role"), c.get("initials"), c.get("birth_year"), h)
        if self.revocations.contains(h):
            d.reason = reasons.REVOKED
            return d
        r = self._rules.evaluate(self.config, c, h, t, self.occupancy)
        if r != reasons.OK:
            d.reason = r
            return d
        if self.sync is not None:
            kind = self.sync.stale(t, self.config.max_age)
            if kind is not None:
                d.reason = (reasons.NOT_PROVISIONED if self.sync.applied(kind) is None
                            else reasons.OUT_OF_SYNC)
                return d
        d.verdict = True
        if self.occupancy is not None:
            self.occupancy.admit(h, t)
        return d
