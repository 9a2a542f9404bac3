# The device's policy side for main.py: the current decider (built from the
# applied signed control messages), the idle-screen and device-state fields,
# and the control task. The control plane itself (verification, state files,
# blobs) lives in control/; this module only connects it to the services.
import asyncio


def make_screens(port, cfg, pins):
    """display.screens.Screens on the configured panel, or None if it fails
    (the gate keeps working without a display; the failure is logged)."""
    dcfg = cfg.get("display", {})
    try:
        import display
        from display.screens import Screens

        panel = display.make(dcfg, port.display(dcfg, pins))
        return Screens(panel, dcfg.get("lang", "vi+en"))
    except Exception as e:  # noqa: no display (unplugged bus, bad config)
        port.log("display unavailable: %r" % (e,))
        return None


class Policy:
    def __init__(self, port, cfg, clock, occupancy):
        self.port = port
        self.cfg = cfg
        self.clock = clock
        self.occupancy = occupancy
        self.client = None
        self.reporter = None
        self.screen = None
        self.queue = None
        self.status_sources = ()
        self._decider = None
        self.control = None  # control/ message handling service, attached by main
        self.tick = None  # fed during long rebuilds (main: the watchdog)
        import time

        self._boot_ms = time.ticks_ms()
        self._build()

    def _build(self):
        import os
        from control.state import ControlState
        from app.provisioned import control_root

        self.root = control_root(self.port.flash_dir())
        try:
            os.mkdir(self.root)
        except OSError:
            pass  # exists
        self.state = ControlState(self.root, self.cfg["device_id"], self.cfg.get("site_id"))
        self.reload()

    def reload(self):
        """Rebuild the decider from the applied messages (after a commit)."""
        from app.provisioned import load_decider

        # the newest signed issue time is a floor for the clock
        for kind in (1, 2, 3, 4):
            rec = self.state.applied(kind)
            if rec is not None:
                self.clock.raise_floor(rec[2])
        # keep only the parts whose inputs did not change (prepared keys,
        # revocation store, allowlist): a config or revocation update then
        # has no Ed25519 prepare peak (app/provisioned.py reusable())
        from app.provisioned import reusable

        reuse = reusable(self._decider)
        self._decider = None
        self._decider = load_decider(self.root, self.state, self.clock, self.occupancy,
                                     self.port.log, self.tick, reuse)
        reuse = None
        self._versions = self.state.versions()

    def attach(self, client, reporter, screen, queue):
        self.client = client
        self.reporter = reporter
        self.screen = screen
        self.queue = queue
        if self.control is not None and hasattr(self.control, "attach"):
            self.control.attach(client, reporter)

    def decider(self):
        if self.control is not None and hasattr(self.control, "decider"):
            return self.control.decider()
        if self.state.versions() != self._versions:
            self.reload()  # a control message was applied since
        return self._decider

    def idle_fields(self):
        import time
        from hal.clock import EPOCH_OFFSET

        d = self.decider()
        tz = getattr(getattr(d, "config", None), "tz", self.cfg.get("tz", 25200))
        tm = time.gmtime(self.clock.now() + tz - EPOCH_OFFSET)  # site's local time
        versions = self.state.versions()
        return {
            "setup_id": None if d is not None else self.cfg["device_id"],
            "site_name": self.cfg.get("site_name", self.cfg["device_id"]),
            "clock_text": "%02d:%02d" % (tm[3], tm[4]) if self.clock.trusted else "--:--",
            "online": bool(self.client is not None and self.client.connected),
            "config_version": versions.get(1, 0),
            "revocation_version": versions.get(3, 0),
            "queue_depth": self.reporter.outbox.depth if self.reporter else 0,
        }

    def state_fields(self):
        """Device state fields main.py supplies (docs/protocol.md 4.2, int
        keys); the reporter adds 1 online, 4 outbox depth, 5 dropped, the
        control plane 3 applied, 10 revocation entries, 12 error, 13 fetch."""
        import time
        from app import VERSION

        d = {2: VERSION, 6: bool(self.clock.trusted), 8: self.clock.now(),
             9: time.ticks_diff(time.ticks_ms(), self._boot_ms) // 1000,
             11: self.occupancy.inside}
        for src in self.status_sources:
            try:
                s = src()
            except Exception:  # noqa: one broken source must not hide the rest
                continue
            if "scanner_baud" in s:
                d[7] = s["scanner_baud"] or 0
        d[3] = self.state.versions()
        snapshot = getattr(getattr(self._decider, "revocations", None), "snapshot", None)
        if snapshot is not None:
            d[10] = snapshot.entries
        if self.control is not None and hasattr(self.control, "state_fields"):
            d.update(self.control.state_fields())
        return d

    async def run(self):
        if self.control is not None and hasattr(self.control, "run"):
            await self.control.run()
        while True:
            await asyncio.sleep(3600)
