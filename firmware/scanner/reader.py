# Reads the scanner line with asyncio and feeds the framer. A second small
# task ends a line that went quiet (inter-byte timeout), so no read is ever
# cancelled mid-way.
import asyncio
import time


class ScannerReader:
    def __init__(self, port, framer, inter_byte_ms=60, chunk=128):
        self.stream = asyncio.StreamReader(port)
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
                if time.ticks_diff(now, self.last_rx) >= self.inter_byte_ms:
                    self.framer.idle(now)
