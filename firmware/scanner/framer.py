# Turns the scanner's byte stream into codes. Pure: fed bytes and a
# millisecond clock, calls on_code(text) for each accepted code.
#
# Rules (docs/scanner.md):
# - a code ends at CR or LF, or when the line is idle for the inter-byte
#   timeout (the reader calls idle()); empty lines are ignored;
# - at most `cap` bytes: a longer line is dropped whole and counted (oversize);
# - a code is printable ASCII only; control or 8-bit bytes between lines are
#   dropped (noise_bytes) and poison the line that follows them without a
#   pause (a fragment: the tail of a garbled code or of a stray module reply);
#   inside a line they drop the line (noise). A quiet line clears the poison;
# - a line dropped for its length or its bytes (oversize, noise, and a line
#   of only control / 8-bit bytes ended by a terminator) is hostile or
#   unreadable input: on_reject() is called (the gate denies it on screen and
#   reports it, reason BAD_INPUT), at most once per `repeat_ms` of such lines
#   (rejects; the others count as repeats). Bytes between codes that a pause
#   ends (no terminator, no printable text) are line noise: counted only;
# - the same code again within `repeat_ms` of its last sighting is dropped
#   (repeats); a code held in front of the scanner stays suppressed. Codes
#   are compared by CRC-32: the last code itself (hundreds of bytes) is not
#   kept between scans; two different codes with the same CRC-32 within
#   repeat_ms: ~2**-32.
from micropython import const
from binascii import crc32
import time

CR = const(0x0D)
LF = const(0x0A)


class Framer:
    def __init__(self, on_code, cap=1280, repeat_ms=3000, min_len=1, on_reject=None):
        self.on_code = on_code
        self.on_reject = on_reject
        self.buf = bytearray(cap)
        self.cap = cap
        self.repeat_ms = repeat_ms
        self.min_len = min_len
        self.n = 0
        self.dirty = False  # a non-printable byte inside the current line
        self.junk = False  # noise right before the current line
        self.discarding = False  # current line overflowed the buffer
        self.last = None  # CRC-32 of the last code
        self.last_ms = 0
        self.reject_ms = None  # last rejected line
        self.codes = 0
        self.rejects = 0
        self.noise = 0
        self.noise_bytes = 0
        self.oversize = 0
        self.repeats = 0
        self.timeouts = 0

    def pending(self):
        # something for idle() to finish or clear
        return self.n > 0 or self.discarding or self.junk

    def feed(self, data, count, now_ms):
        buf = self.buf
        cap = self.cap
        for i in range(count):
            b = data[i]
            if b == CR or b == LF:
                self._end(now_ms)
            elif self.discarding:
                continue
            elif b < 0x20 or b > 0x7E:
                if self.n == 0:
                    self.noise_bytes += 1
                    self.junk = True
                else:
                    self.dirty = True
                    self._store(b)
            else:
                self._store(b)

    def _store(self, b):
        if self.n >= self.cap:
            self.oversize += 1
            self.discarding = True
            self.n = 0
            self.dirty = False
            return
        self.buf[self.n] = b
        self.n += 1

    def idle(self, now_ms):
        # the line went quiet: whatever we hold is a complete code (modules
        # configured without a terminator) or a fragment
        if self.n > 0 or self.discarding:
            self.timeouts += 1
            self._end(now_ms)
        else:
            self.junk = False

    def _end(self, now_ms):
        n = self.n
        self.n = 0
        junk = self.junk
        self.junk = False
        if self.discarding:
            self.discarding = False
            self._reject(now_ms)
            return
        if n == 0:
            if junk:  # only control / 8-bit bytes, then a terminator
                self._reject(now_ms)
            return
        if self.dirty or junk or n < self.min_len:
            self.dirty = False
            self.noise += 1
            self._reject(now_ms)
            return
        line = memoryview(self.buf)[:n]
        key = crc32(line)
        if (
            key == self.last
            and time.ticks_diff(now_ms, self.last_ms) < self.repeat_ms
        ):
            self.repeats += 1
            self.last_ms = now_ms
            return
        self.last = key
        self.last_ms = now_ms
        self.codes += 1
        self.on_code(bytes(line).decode())

    def _reject(self, now_ms):
        last = self.reject_ms
        self.reject_ms = now_ms
        if last is not None and time.ticks_diff(now_ms, last) < self.repeat_ms:
            self.repeats += 1  # the same hostile code held in front of the scanner
            return
        self.rejects += 1
        if self.on_reject is not None:
            self.on_reject()

    def stats(self):
        return {
            "codes": self.codes,
            "noise": self.noise,
            "noise_bytes": self.noise_bytes,
            "oversize": self.oversize,
            "repeats": self.repeats,
            "rejects": self.rejects,
            "timeouts": self.timeouts,
        }
