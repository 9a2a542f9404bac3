# Provisioning frames on the USB console (docs/provisioning.md):
#
#   A5 5A | type (1) | seq (1) | len (2, BE) | payload (len) | CRC-32 (4, BE)
#
# The CRC (binascii.crc32, the zlib polynomial) covers type..payload. The
# console also carries boot messages and stray REPL output, so the parser
# hunts for the magic, bounds the length before buffering, and reports a
# frame whose CRC fails (the peer then resends) instead of guessing.
import binascii

from micropython import const

MAGIC0 = const(0xA5)
MAGIC1 = const(0x5A)
HEADER = const(6)
MAX_PAYLOAD = const(2048)

# parser results besides a frame
CRC_ERROR = const(1)
TOO_LONG = const(2)


def build(ftype, seq, payload):
    n = len(payload)
    out = bytearray(HEADER + n + 4)
    out[0] = MAGIC0
    out[1] = MAGIC1
    out[2] = ftype
    out[3] = seq & 0xFF
    out[4] = n >> 8
    out[5] = n & 0xFF
    out[HEADER:HEADER + n] = payload
    crc = binascii.crc32(memoryview(out)[2:HEADER + n]) & 0xFFFFFFFF
    out[HEADER + n] = crc >> 24
    out[HEADER + n + 1] = (crc >> 16) & 0xFF
    out[HEADER + n + 2] = (crc >> 8) & 0xFF
    out[HEADER + n + 3] = crc & 0xFF
    return bytes(out)


class Parser:
    """Feed bytes; get (type, seq, payload) tuples or an error code.

    One preallocated buffer; a frame is at most HEADER + MAX_PAYLOAD + 4
    bytes. Noise before the magic is counted and dropped."""

    def __init__(self):
        self.buf = bytearray(HEADER + MAX_PAYLOAD + 4)
        self.n = 0
        self.need = 2
        self.noise = 0
        self.crc_errors = 0

    def reset(self):
        self.n = 0
        self.need = 2

    def feed(self, data, out):
        """Parse `data`; append each result to the list `out`.

        After a bad frame the parser resynchronises on the bytes it had
        buffered (past the failed magic), so a real frame that began inside
        noise is not lost."""
        chunks = [data]
        while chunks:
            chunk = chunks.pop()
            for i in range(len(chunk)):
                again = self._byte(chunk[i], out)
                if again is not None:
                    # bad frame: re-scan its bytes, then the rest of chunk
                    chunks.append(memoryview(chunk)[i + 1:])
                    chunks.append(again)
                    break
        return out

    def _byte(self, b, out):
        buf = self.buf
        n = self.n
        if n == 0:
            if b == MAGIC0:
                buf[0] = b
                self.n = 1
            else:
                self.noise += 1
            return None
        if n == 1:
            if b == MAGIC1:
                buf[1] = b
                self.n = 2
                self.need = HEADER
            elif b != MAGIC0:
                self.noise += 2
                self.n = 0
            else:
                self.noise += 1
            return None
        buf[n] = b
        n += 1
        self.n = n
        if n == HEADER:
            length = (buf[4] << 8) | buf[5]
            if length > MAX_PAYLOAD:
                out.append(TOO_LONG)
                return self._drop()
            self.need = HEADER + length + 4
        if n >= HEADER + 4 and n == self.need:
            return self._finish(out)
        return None

    def _drop(self):
        # give back what we buffered, minus the failed magic byte, to be
        # scanned again: a frame may start inside it
        pending = bytes(self.buf[1:self.n])
        self.reset()
        self.noise += 1
        return pending

    def _finish(self, out):
        buf = self.buf
        n = self.n
        length = n - HEADER - 4
        crc = binascii.crc32(memoryview(buf)[2:HEADER + length]) & 0xFFFFFFFF
        got = (buf[n - 4] << 24) | (buf[n - 3] << 16) | (buf[n - 2] << 8) | buf[n - 1]
        if crc != got:
            self.crc_errors += 1
            out.append(CRC_ERROR)
            return self._drop()
        out.append((buf[2], buf[3], bytes(buf[HEADER:HEADER + length])))
        self.reset()
        return None

    def idle(self, out):
        """The line went quiet mid-frame (inter-byte timeout): drop the
        partial frame and re-scan its bytes for a real start."""
        if self.n:
            self.feed(self._drop(), out)
        return out
