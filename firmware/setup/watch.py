# The USB console's resident part. SETUP frames (docs/provisioning.md) are
# rare on a provisioned device (a technician's visit), so only this watcher
# stays loaded: it reads the console until a frame starts (A5 5A), then
# loads the real service (setup/start.py), hands it the bytes read so far
# (the first frame is answered, not lost), and once the console has been
# quiet for `quiet_ms` drops the service and its modules again. A blank
# device (`resident`) runs the service for good, as it waits for SETUP.
import asyncio
import gc

from micropython import const

_MAGIC0 = const(0xA5)
_MAGIC1 = const(0x5A)


def frame_start(chunk, n, half):
    """Where a frame begins in chunk[:n]: the index of its A5 (-1: the A5
    ended the previous chunk, `half`), or None. -> (index, half now)."""
    for i in range(n):
        b = chunk[i]
        if half and b == _MAGIC1:
            return i - 1, False
        half = b == _MAGIC0
    return None, half


class ConsoleWatch:
    def __init__(self, port, cfg, resident=False, quiet_ms=60000):
        self.port = port
        self.cfg = cfg
        self.resident = resident
        self.quiet_ms = quiet_ms
        self.console = port.open_console()  # OSError: no console, no SETUP
        self.sessions = 0

    def _service(self):
        from setup import start

        return start.build(self.port, self.cfg, console=self.console)

    async def run(self):
        if self.resident:
            await self._service().run()
        buf = bytearray(32)
        reader = asyncio.StreamReader(self.console[0])
        half = False
        while True:
            try:
                n = await reader.readinto(buf)
            except OSError:
                n = 0
            if not n:
                await asyncio.sleep_ms(200)  # console closed or unreadable
                continue
            at, half = frame_start(buf, n, half)
            if at is not None:
                first = (b"\xa5" + buf[:n]) if at < 0 else bytes(buf[at:n])
                await self._session(first)
                half = False

    async def _session(self, first):
        self.sessions += 1
        self.port.event("setup", {"service": "on"})
        svc = self._service()
        try:
            svc.process(first)
            await svc.run(self.quiet_ms)
        finally:
            svc = None
            self.drop()
            self.port.event("setup", {"service": "off"})

    def drop(self):
        """Unload the SETUP service's modules (all of setup/ but this one),
        and control.envelope, which setup/bundle.py imported, unless the
        control service is loaded and uses it (control/link.py loads both
        again when a message needs them)."""
        import sys
        from app import unload

        names = [m for m in sys.modules if m.startswith("setup.") and m != "setup.watch"]
        if "control.service" not in sys.modules:
            names.append("control.envelope")
        unload(*names)
        gc.collect()
