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
#   await link.run()      the supervisor's "ota" service
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
    def __init__(self, port, cfg, release_keys):
        self.port = port
        self.cfg = cfg
        self.keys = release_keys
        self.root = port.flash_dir() + "/ota"
        self.client = None
        self.reporter = None
        self.busy = lambda: False  # True while a scan waits to be decided
        self.checks = ()           # health checks of the probation (app/boot.py)
        self.upd = None            # the loaded updater
        self._wake = asyncio.Event()
        self.state = self._load()
        self.active = self.state["phase"] in (DOWNLOADING, VERIFYING, SWITCHING, PROBATION)

    def _load(self):
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

    def field(self):
        s = self.state
        return [s["release"] or s["installed"], s["phase"], s["pct"], s["reason"], s["campaign"]]

    def publish(self):
        if self.reporter is not None:
            try:
                self.reporter.publish_state()
            except Exception:  # noqa: the state is published again periodically
                pass

    def seen(self, payload):
        import hashlib
        import binascii

        d = binascii.hexlify(hashlib.sha256(payload).digest()[:16]).decode()
        return d == self.state.get("offer")

    def _updater(self):
        if self.upd is None:
            from ota.updater import Updater

            self.upd = Updater(self)
        return self.upd

    def on_offer(self, msg):
        from verify import reasons

        try:
            upd = self._updater()
        except MemoryError:
            return reasons.INTERNAL  # the retained offer comes again at the next connect
        reason = upd.offer(msg)
        self.active = self.state["phase"] in (DOWNLOADING, VERIFYING, SWITCHING, PROBATION)
        self._wake.set()
        return reason

    def on_chunk(self, payload):
        if self.upd is not None:
            self.upd.on_chunk(payload)

    async def run(self):
        while True:
            if self.active:
                try:
                    await self._updater().run()
                finally:
                    self.upd = None
                    from app import unload

                    unload(*_RARE)
                    gc.collect()
                self.active = False
            self._wake.clear()
            await self._wake.wait()
