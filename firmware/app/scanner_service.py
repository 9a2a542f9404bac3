# The scanner as a service: open the serial line, run the boot-time module
# set-up (scanner/setup.py, unloaded after it), then read codes into the code
# queue for ever.
# `status()` goes into the device state (set-up status, baud, framer
# counters).
import asyncio
import gc


class ScannerService:
    def __init__(self, port, cfg, pins, on_code):
        self.port = port
        self.cfg = cfg  # config["scanner"]
        self.pins = pins
        self.on_code = on_code
        self.state = {"status": "starting"}
        self.framer = None
        self.reader = None
        self.beat = None
        self.on_ready = None  # called once set-up is done (publish the state)
        self._serial = None
        self._set_baud = None
        self._configured = False

    async def run(self):
        from scanner.framer import Framer
        from scanner.reader import ScannerReader

        while self._serial is None:
            try:
                self._serial, self._set_baud = self.port.open_scanner(self.cfg, self.pins)
            except (OSError, ValueError) as e:
                # no serial port (wrong pins, missing pty): report and retry
                # slowly, still beating, so the device does not reset-loop
                if self.state.get("status") != "absent":
                    self.state = {"status": "absent", "baud": None, "error": repr(e)[:60]}
                    self.port.event("scanner", {"state": "absent", "baud": None,
                                                "found_baud": None})
                    self.port.log("scanner: cannot open port: %r" % (e,))
                for _ in range(10):
                    if self.beat:
                        self.beat()
                    await asyncio.sleep_ms(1000)
        self.pins = None  # only opening the port needs the pin map
        if not self._configured:
            # once per boot: a restarted reader must not re-probe the module
            await self._configure()
            self._configured = True
            if self.on_ready:
                self.on_ready()
        if self.framer is None:
            self.framer = Framer(self.on_code, cap=self.cfg.get("max_len", 1280),
                                 repeat_ms=self.cfg.get("repeat_ms", 3000),
                                 on_reject=self._rejected)
        self.reader = ScannerReader(self._serial, self.framer,
                                    inter_byte_ms=self.cfg.get("inter_byte_ms", 60))
        self.reader.beat = self.beat
        await self.reader.run()

    async def _configure(self):
        from scanner import setup
        from scanner.link import SerialLink

        try:
            link = SerialLink(self._serial, self._set_baud, None)
            st = await setup.configure(link, setup.Settings.from_dict(self.cfg))
        finally:
            # boot-only code: the set-up and the module's command protocol
            # are not needed again until the next boot (docs/memory.md)
            link = setup = SerialLink = None
            from app import unload

            unload("scanner.setup", "scanner.gm65", "scanner.link")
            gc.collect()
        status = "ready" if st["configured"] else (
            "unconfigured" if st["responsive"] else "silent")
        # keep what status() reports, not the set-up's step log (uptime-long)
        self.state = {"status": status, "baud": st["baud"]}
        self.port.event("scanner", {"state": status, "baud": st["baud"],
                                    "found_baud": st["found_baud"]})
        self.port.log("scanner: %s at %s baud" % (status, st["baud"]))

    def _rejected(self):
        # over-long or non-ASCII input: None in the code queue is a code the
        # decision service denies (BAD_INPUT) and reports without a pass hash
        self.on_code(None)

    def status(self):
        d = {"scanner": self.state.get("status"), "scanner_baud": self.state.get("baud")}
        if self.framer is not None:
            s = self.framer.stats()
            for k in s:
                d["scan_" + k] = s[k]
        return d
