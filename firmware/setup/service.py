# SETUP as a service: answers provisioning frames on the console.
#
# The console is the USB serial line (sys.stdin/stdout on the ESP32, a pty
# under the unix port). On a blank device the service always listens (the
# gate shows SETUP and waits for the technician); on a provisioned one only
# setup/watch.py stays resident and starts this service on the first frame:
# the same frames then update firmware and configuration (a new
# configuration must be signed with a fleet key the device already trusts).
import asyncio
import time

from setup import frame
from setup.commands import Commands, ERROR


class SetupService:
    def __init__(self, stream_in, write, commands, log=None, idle_ms=200):
        self.stream = asyncio.StreamReader(stream_in)
        self.write = write          # callable(bytes)
        self.commands = commands    # setup.commands.Commands
        self.log = log
        self.idle_ms = idle_ms
        self.parser = frame.Parser()
        self.buf = bytearray(256)
        self.mv = memoryview(self.buf)
        self.out = []
        self.requests = 0
        self.beat = None

    def _answer(self, ftype, seq, payload):
        from codec import cbor

        try:
            req = cbor.loads(payload) if payload else {}
        except Exception:  # noqa: a frame with bad CBOR gets an error answer
            req = None
        if req is None:
            ans_type, ans = ERROR, {1: "cbor", 2: "bad request body"}
        else:
            ans_type, ans = self.commands.handle(ftype, req)
        self.requests += 1
        self.write(frame.build(ans_type, seq, cbor.dumps(ans)))

    def _nak(self, code):
        from codec import cbor

        # seq 0xFF: "your last frame did not arrive intact, send it again"
        self.write(frame.build(ERROR, 0xFF, cbor.dumps({1: code, 2: "resend"})))

    def process(self, data):
        """Feed raw console bytes; answer every complete frame."""
        out = self.out
        self.parser.feed(data, out)
        self._drain(out)

    def _drain(self, out):
        while out:
            item = out.pop(0)
            if type(item) is tuple:
                self._answer(item[0], item[1], item[2])
            elif item == frame.CRC_ERROR:
                self._nak("crc")
            elif item == frame.TOO_LONG:
                self._nak("length")
        if self.commands.reboot_pending and self.commands.on_reboot:
            self.commands.reboot_pending = False
            self.commands.on_reboot()

    async def run(self, quiet_ms=None):
        """Answer frames for ever; with quiet_ms, return once the console
        has been quiet that long with no frame half-read (setup/watch.py
        then drops the service)."""
        last = time.ticks_ms()
        while True:
            if self.beat:
                self.beat()
            try:
                n = await asyncio.wait_for_ms(self.stream.readinto(self.mv), self.idle_ms)
            except asyncio.TimeoutError:
                n = 0
            except OSError:
                await asyncio.sleep_ms(200)
                continue
            now = time.ticks_ms()
            if n:
                last = now
                self.process(self.mv[:n])
            elif self.parser.n and time.ticks_diff(now, last) >= self.idle_ms:
                self.parser.idle(self.out)
                self._drain(self.out)
            elif quiet_ms is not None and not self.parser.n and time.ticks_diff(now, last) >= quiet_ms:
                return
            else:
                await asyncio.sleep_ms(5)
