# Firmware updates, resident part (docs/protocol.md "Firmware updates"):
# the update state (<flash>/ota/state.json), state key 15, and the service
# that loads the updater (ota/updater.py) only while an update is under way
# (an offer came, a download or a probation is pending at boot) and drops it
# again when it is over.
#
#   link = OtaLink(port, cfg, release_keys)
#   link.on_offer(msg)    a verified kind-8 control message (control/service.py)
#   link.on_chunk(data)   a blob chunk (control/link.py routes every chunk here)
#   link.seen(data)       the offer in hand again (retained re-delivery): drop
#   link.field()          state key 15 [release, phase, percent, reason, campaign]
# The updater runs in a task of its own, started by an offer or at boot when
# an update is under way on flash, and ends when it is settled.
import asyncio
import gc
from micropython import const

IDLE = const(0)
DOWNLOADING = const(1)
VERIFYING = const(2)
SWITCHING = const(3)
PROBATION = const(4)
DONE = const(5)
ROLLED_BACK = const(6)
FAILED = const(7)

_RARE = ("ota.updater", "ota.fetch", "ota.manifest", "ota.image", "ota.selftest")


def default_state():
    # installed: release number running (the anti-rollback floor);
    # release: the one being installed / last tried
    return {"installed": 0, "failed": 0, "phase": IDLE, "pct": 0, "reason": 0,
            "campaign": 0, "release": 0}


class OtaLink:
    """Resident while the gate runs: what it keeps between updates is state
    key 15 (a 5-int list); the update state itself is read from flash only
    while an update runs or an offer comes (docs/memory.md: the steady heap
    budget)."""

    def __init__(self, port, cfg, release_keys):
        self.port = port
        self.cfg = cfg
        self.keys = release_keys
        self.root = port.flash_dir() + "/ota"
        self.client = None
        self.reporter = None
        self.queue = None    # app/codequeue.py: downloads pause while a code waits
        self.scanner = None  # health: app/scanner_service.py state "ready"
        self.upd = None      # the loaded updater, while its task runs
        self.state = None    # the update state dict, while an update runs
        st = self.load()
        self.k15 = _field(st)
        if st["phase"] in (DOWNLOADING, VERIFYING, SWITCHING, PROBATION):
            self.state = st
            self._start()  # resume: the task runs once the loop does

    def load(self):
        import json

        st = default_state()
        try:
            with open(self.root + "/state.json") as f:
                got = json.load(f)
            if type(got) is dict:
                for k in got:
                    st[k] = got[k]
        except (OSError, ValueError):
            pass
        return st

    def save(self):
        import json
        from fsutil import makedirs, write_atomic

        makedirs(self.root)
        write_atomic(self.root + "/state.json", json.dumps(self.state).encode())
        self.k15 = _field(self.state)

    def field(self):
        return _field(self.state) if self.state is not None else self.k15

    def busy(self):
        q = self.queue
        return q is not None and q.count > 0

    def healthy(self):
        """Scanner set up and broker connected (the test pass: updater)."""
        sc = self.scanner
        return (sc is not None and sc.state.get("status") == "ready"
                and self.client is not None and self.client.connected)

    def publish(self):
        if self.reporter is not None:
            try:
                self.reporter.publish_state()
            except Exception:  # noqa: the state is published again periodically
                pass

    def seen(self, payload):
        """The offer handled last (retained: re-delivered at each connect)."""
        import hashlib
        import binascii

        st = self.state if self.state is not None else self.load()
        return binascii.hexlify(hashlib.sha256(payload).digest()[:16]).decode() == st.get("offer")

    def on_offer(self, msg):
        from verify import reasons

        try:
            if self.state is None:
                self.state = self.load()
            if self.upd is None:
                from ota.updater import Updater

                self.upd = Updater(self)
            reason = self.upd.offer(msg)
        except MemoryError:
            self._end()
            return reasons.INTERNAL  # the retained offer comes again at the next connect
        if self.state["phase"] in (DOWNLOADING, VERIFYING, SWITCHING, PROBATION):
            self._start()
        elif self._task is None:
            self._end()  # refused: nothing runs
        return reason

    def on_chunk(self, payload):
        if self.upd is not None:
            self.upd.on_chunk(payload)

    _task = None

    def _start(self):
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self):
        try:
            if self.upd is None:
                from ota.updater import Updater

                self.upd = Updater(self)
            await self.upd.run()
        except Exception as e:  # noqa: logged; the state on flash resumes at the next boot
            self.port.log("ota: update task failed: %r" % (e,))
        finally:
            self._task = None
            self._end()

    def _end(self):
        if self.state is not None:
            self.k15 = _field(self.state)
        self.upd = None
        self.state = None
        from app import unload

        unload(*_RARE)
        gc.collect()


def _field(s):
    return [s["release"] or s["installed"], s["phase"], s["pct"], s["reason"], s["campaign"]]
