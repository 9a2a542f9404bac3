# The scan pipeline's last step: code in, verdict out.
# For each code from the queue (None: input the scanner rejected, denied as
# BAD_INPUT without a pass hash): decide (gate/decide.py), persist the
# decision in the outbox (net/reporter.py record_scan: flash first, the
# network later), then drive the gate and the screen. Logs and events carry
# only the pass hash, the verdict and the reason code.
import binascii

from verify import reasons


class DecisionService:
    def __init__(self, queue, decider, clock, gate, screen, record, port):
        self.queue = queue
        self.decider = decider  # object with decide(text, now) or a callable returning one
        self.clock = clock
        self.gate = gate
        self.screen = screen
        self.record = record  # record_scan(time, time_valid, pass_hash, verdict, reason)
        self.port = port
        self.decisions = 0
        self.store_errors = 0
        self.beat = None

    def _decider(self):
        d = self.decider
        return d() if callable(d) else d

    def handle(self, code):
        if code is _QUEUED:  # taken here: see run()
            code = self.queue.take()
        now = self.clock.now()
        decider = None if code is None else self._decider()
        if decider is None:
            from gate.decide import Decision

            # None: the scanner rejected the input (too long, not ASCII)
            d = Decision(False, reasons.NOT_PROVISIONED if code is not None else reasons.BAD_INPUT)
        else:
            d = decider.decide(code, now)
        code = None
        self.decisions += 1
        try:
            self.record(now, self.clock.trusted, d.pass_hash, d.verdict, d.reason)
        except Exception as e:  # noqa: StoreError or worse: the gate still answers
            self.store_errors += 1
            self.port.log("outbox: %r" % (e,))
        fmt = getattr(d, "fmt", None)  # a DCC: the screens name the format
        if fmt:
            _drop_dcc_modules()
        if d.verdict:
            self.gate.accept()
            if fmt:
                self.screen.show("accept", "accept", d.role, d.initials, d.birth_year, fmt)
            else:
                self.screen.show("accept", "accept", d.role, d.initials, d.birth_year)
        else:
            self.gate.deny()
            if d.reason == reasons.OUT_OF_SYNC:
                self.screen.show("out_of_sync", "out_of_sync")
            elif fmt:
                self.screen.show("deny", "deny", d.reason, fmt)
            else:
                self.screen.show("deny", "deny", d.reason)
        h = binascii.hexlify(d.pass_hash).decode() if d.pass_hash else None
        self.port.event("decision", {"verdict": bool(d.verdict),
                                     "reason": reasons.name(d.reason), "pass": h})
        return d

    async def run(self):
        while True:
            await self.queue.wait()
            if self.beat:
                self.beat()
            # the code is taken inside handle() and dropped once decided: not
            # held while the outbox, the gate and the screen work (a DCC text
            # is up to ~1.2 KB: docs/memory.md, EU DCCs)
            self.handle(_QUEUED)


_QUEUED = object()


def _drop_dcc_modules():
    """After a DCC check: its decoding and crypto modules go again
    (verify/dcc.py RARE), so accepting DCCs costs the steady heap only the
    verifier, which holds its table's file names (docs/memory.md); the next DCC imports them again
    (frozen on the ESP32: no compile, a few ms against ~300 ms of checking)."""
    import gc

    from app import unload
    from verify.dcc import RARE

    unload(*RARE)
    gc.collect()
