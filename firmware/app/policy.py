# The device's policy side for main.py: the current decider (built from the
# applied signed control messages), the idle-screen and device-state fields,
# and the control plane's resident part. The control plane itself
# (verification, state files, blobs) lives in control/; this module only
# connects it to the services.
import gc

OOM_KEY = "oom_resets"  # NVS: resets for a decider rebuild out of memory
RESET_GUARD_MS = 60000  # below this uptime, no second reset for the same cause


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
        self.control = None  # control/link.py ControlLink (start_control); its .ota:
        # ota/link.py OtaLink, firmware updates (state key 15)
        self.tick = None  # fed during long rebuilds (main: the watchdog)
        self.rebuild_error = None  # a reason code while a rebuild ran out of heap
        # resets for a rebuild out of memory since the last good rebuild (NVS)
        self.oom_resets = port.nvs().get_int(OOM_KEY, 0) or 0
        import time

        self._boot_ms = time.ticks_ms()
        self._build()

    def _build(self):
        import os
        from control.state import ControlState

        self.root = self.port.flash_dir() + "/control"
        try:
            os.mkdir(self.root)
        except OSError:
            pass  # exists
        self.state = ControlState(self.root, self.cfg["device_id"], self.cfg.get("site_id"))
        self.reload()

    def reload(self):
        """Rebuild the decider from the applied messages (after a commit)."""
        from app.provisioned import reusable

        # the newest signed issue time is a floor for the clock
        for kind in (1, 2, 3, 4, 7):
            rec = self.state.applied(kind)
            if rec is not None:
                self.clock.raise_floor(rec[2])
        # keep only the parts whose inputs did not change (prepared keys,
        # revocation store, allowlist): a config or revocation update then
        # has no Ed25519 prepare peak (app/provisioned.py reusable())
        reuse = reusable(self._decider)
        self._decider = None
        try:
            self._decider = self._load(reuse)
        except MemoryError:
            # most likely a fragmented heap: free what the failed attempt
            # left and try once more, keeping what it finished (reuse)
            gc.collect()
            try:
                self._decider = self._load(reuse)
            except MemoryError:
                reuse.clear()
                gc.collect()
                self._out_of_memory()
        reuse = None
        if self._decider is not None:
            self.rebuild_error = None
            if self.oom_resets:
                self.oom_resets = 0
                self.port.nvs().set_int(OOM_KEY, 0)
        self._versions = self.state.versions()
        from app import unload

        # the DCC table's code: a rebuild, an applied kind 7 and each DCC
        # check import it where they use it (verify/dcc.py)
        unload("verify.dsc", "verify.dsccheck")
        if getattr(self.control, "svc", None) is None:
            # rebuild-only code (a control session drops it when it ends)
            unload("app.provisioned", "control.blob")
        gc.collect()

    def _load(self, reuse):
        from app.provisioned import load_decider

        return load_decider(self.root, self.state, self.clock, self.occupancy,
                            self.port.log, self.tick, reuse)

    def _out_of_memory(self):
        """The rebuild failed twice for want of heap: the gate refuses
        everyone (NOT_PROVISIONED) until it is rebuilt. A reset gives back a
        whole, unfragmented heap, and the boot rebuilds from flash. Not when
        the last reset was for the same cause and we booted less than
        RESET_GUARD_MS ago: the cold rebuild itself does not fit, and
        resetting again would loop (the next control message tries again)."""
        import time
        from verify import reasons

        up_ms = time.ticks_diff(time.ticks_ms(), self._boot_ms)  # < 0: wrapped, days
        reset = not self.oom_resets or not 0 <= up_ms <= RESET_GUARD_MS
        self.rebuild_error = reasons.INTERNAL
        self.port.log("decider rebuild failed: MemoryError (%s), %s" % (
            reasons.name(reasons.INTERNAL),
            "resetting" if reset else "no reset: the last one was for the same cause"))
        self.port.event("rebuild", {"error": "MemoryError", "reset": reset,
                                    "oom_resets": self.oom_resets, "uptime_ms": up_ms})
        if reset:
            try:
                self.port.nvs().set_int(OOM_KEY, self.oom_resets + 1)
            except OSError:
                return  # the guard cannot be recorded: no reset, no loop
            self.oom_resets += 1
            self.port.reset()

    def start_control(self, keys, gate, screen, quiet_ms=30000):
        """Signed control messages (fleet keys in config.json): only the
        resident part (control/link.py) stays loaded; it loads the service
        (app/controlservice.py, control/service.py) when a message comes and
        drops it after quiet_ms with nothing pending."""
        from control.link import ControlLink

        def load(link):
            from app import controlservice

            return controlservice.build(self, keys, self.port, gate, screen, link)

        self.control = ControlLink(self.state, load, quiet_ms, self.port.log, self.port.event)

    def attach(self, client, reporter, screen, queue):
        self.client = client
        self.reporter = reporter
        self.screen = screen
        self.queue = queue
        if self.control is not None and hasattr(self.control, "attach"):
            self.control.attach(client, reporter)

    def decider(self):
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
        control plane 3 applied, 10 revocation entries, 12 error, 13 fetch;
        16 [DCC table version, signers] once a DCC table is applied."""
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
        dcc_version = self.state.version(7)
        if dcc_version is not None:  # key 16: the DCC signer table in use
            d[16] = [dcc_version, getattr(getattr(self._decider, "dcc", None), "count", 0)]
        if self.control is not None and hasattr(self.control, "state_fields"):
            d.update(self.control.state_fields())
        ota = getattr(self.control, "ota", None)
        if ota is not None:
            d[15] = ota.field()
        if self.rebuild_error is not None and self._decider is None and d.get(12) is None:
            d[12] = [0, self.rebuild_error, 0]  # kind 0: the device's own rebuild
        return d
