# The serial line to the scanner module: a port object (machine.UART on the
# ESP32, the pty file on the unix port; both read without blocking) plus the
# port's baud-rate setter from the platform layer.
import asyncio
import time


class SerialLink:
    def __init__(self, port, set_baud, baud):
        self.port = port
        self._set_baud = set_baud
        self.baud = baud
        self.rx = bytearray(64)  # the one buffer for command replies

    def set_baud(self, baud):
        self._set_baud(baud)
        self.baud = baud

    def write(self, data):
        self.port.write(data)

    def read_now(self):
        # what the port holds right now (0 when nothing)
        try:
            n = self.port.readinto(self.rx)
        except OSError:
            return 0
        return n or 0

    def discard_input(self):
        while self.read_now():
            pass

    async def request(self, frame, parser, timeout_ms=300):
        """Send a command frame; the first good reply (status, data) or None."""
        self.discard_input()
        parser.reset()
        self.write(frame)
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            n = self.read_now()
            rx = self.rx
            for i in range(n):
                reply = parser.feed_byte(rx[i])
                if reply is not None:
                    return reply
            if not n:
                await asyncio.sleep_ms(5)
        return None
