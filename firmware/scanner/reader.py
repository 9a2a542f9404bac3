# Reads the scanner line with asyncio and feeds the framer. A second small
# task ends a line that went quiet (inter-byte timeout), so no read is ever
# cancelled mid-way.
import asyncio
import time


class ScannerReader:
    def __init__(self, port, framer, inter_byte_ms=60, chunk=128):
        self.stream = asyncio.StreamReader(port)
        self.port = port
        self._poll = None  # select.poll over the port, made on first use
        self.framer = framer
        self.inter_byte_ms = inter_byte_ms
        self.buf = bytearray(chunk)
        self.mv = memoryview(self.buf)
        self.last_rx = time.ticks_ms()
        self.errors = 0
        self.beat = None  # supervisor heartbeat callback

    async def run(self):
        watch = asyncio.create_task(self._watch())
        try:
            while True:
                try:
                    n = await self.stream.readinto(self.mv)
                except OSError:
                    # line gone (pty closed, UART fault): back off, retry
                    self.errors += 1
                    await asyncio.sleep_ms(200)
                    continue
                if not n:
                    await asyncio.sleep_ms(5)
                    continue
                now = time.ticks_ms()
                self.last_rx = now
                self.framer.feed(self.buf, n, now)
        finally:
            watch.cancel()

    async def _watch(self):
        tick = max(5, self.inter_byte_ms // 3)
        while True:
            await asyncio.sleep_ms(tick)
            if self.beat:
                self.beat()
            if self.framer.pending():
                now = time.ticks_ms()
                if time.ticks_diff(now, self.last_rx) >= self.inter_byte_ms and not self._waiting():
                    self.framer.idle(now)

    def _waiting(self):
        # Bytes already in the port's buffer are not a pause: after a long
        # stall (a signature check, a loaded host) this task may run before
        # the reader drains them, and ending the line then would cut a code.
        if self._poll is None:
            import select

            self._poll = select.poll()
            try:
                self._poll.register(self.port, select.POLLIN)
            except (OSError, TypeError, AttributeError):
                self._poll = False  # a port that cannot be polled: timing alone
        if not self._poll:
            return False
        try:
            return bool(self._poll.poll(0))
        except OSError:
            return False
