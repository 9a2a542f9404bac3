# Minimal streaming PNG writer (unix port: display dumps for tests and the
# simulator). Own code: MicroPython's `deflate` module can only decompress on
# this build, so the zlib stream is made here with one fixed-Huffman deflate
# block whose only matches are "same as one pixel left" and "same as the row
# above": screens are mostly flat colour, so that is nearly as good as zlib.
# Rows go out as IDAT chunks of about 4 KiB: memory stays at two rows plus
# one chunk whatever the image size.
import micropython
from micropython import const
import struct

try:
    from binascii import crc32 as _crc32
except ImportError:  # ports without binascii.crc32
    def _crc32(data, crc=0):
        crc ^= 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
        return crc ^ 0xFFFFFFFF

GRAY = const(0)
RGB = const(2)
_CHUNK = const(4096)
_MAX_MATCH = const(258)
_SIG = b"\x89PNG\r\n\x1a\n"

# deflate length/distance symbol tables (RFC 1951 3.2.5)
_LEN_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51,
             59, 67, 83, 99, 115, 131, 163, 195, 227, 258)
_LEN_EXTRA = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4,
              4, 5, 5, 5, 5, 0)
_DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
              513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577)


def _rev(code, n):
    r = 0
    for _ in range(n):
        r = r << 1 | (code & 1)
        code >>= 1
    return r


@micropython.viper
def _run(buf, i: int, d: int, end: int) -> int:
    # length of the run buf[i:] == buf[i-d:] (at most up to end)
    p = ptr8(buf)
    j = i
    while j < end and p[j] == p[j - d]:
        j += 1
    return j - i


class PNGWriter:
    """write_row() each row (packed pixel bytes, no filter byte), then close()."""

    def __init__(self, stream, width, height, color_type, bit_depth):
        self._s = stream
        self._h = height
        self._rows = 0
        channels = 3 if color_type == RGB else 1
        self._stride = (width * channels * bit_depth + 7) >> 3
        self._bpp = max(1, channels * bit_depth >> 3)
        n = self._stride + 1
        self._win = bytearray(2 * n)  # previous scanline, then current one
        self._out = bytearray()
        self._bits = 0
        self._nbits = 0
        self._a = 1
        self._b = 0
        stream.write(_SIG)
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth,
                                          color_type, 0, 0, 0))
        self._out += b"\x78\x01"  # zlib header: deflate, 32K window, no dict
        self._put(0b011, 3)       # BFINAL=1, BTYPE=01 (fixed Huffman)

    def _chunk(self, kind, data):
        s = self._s
        s.write(struct.pack(">I", len(data)))
        s.write(kind)
        s.write(data)
        s.write(struct.pack(">I", _crc32(data, _crc32(kind)) & 0xFFFFFFFF))

    def _put(self, value, n):
        # LSB-first bit stream (RFC 1951 3.1.1)
        self._bits |= value << self._nbits
        self._nbits += n
        out = self._out
        while self._nbits >= 8:
            out.append(self._bits & 0xFF)
            self._bits >>= 8
            self._nbits -= 8

    def _literal(self, v):
        if v < 144:
            self._put(_rev(0x30 + v, 8), 8)
        else:
            self._put(_rev(0x190 + v - 144, 9), 9)

    def _match(self, length, dist):
        s = 0
        while s < 28 and _LEN_BASE[s + 1] <= length:
            s += 1
        sym = 257 + s
        if sym < 280:
            self._put(_rev(sym - 256, 7), 7)
        else:
            self._put(_rev(0xC0 + sym - 280, 8), 8)
        if _LEN_EXTRA[s]:
            self._put(length - _LEN_BASE[s], _LEN_EXTRA[s])
        d = 0
        while d < 29 and _DIST_BASE[d + 1] <= dist:
            d += 1
        self._put(_rev(d, 5), 5)
        extra = (d >> 1) - 1 if d >= 4 else 0
        if extra:
            self._put(dist - _DIST_BASE[d], extra)

    def write_row(self, row):
        if self._rows >= self._h:
            raise ValueError("too many rows")
        n = self._stride + 1
        win = self._win
        win[0:n] = win[n:2 * n]
        win[n] = 0  # filter type None
        win[n + 1:2 * n] = row[:self._stride]
        # adler32 of the uncompressed scanline
        a = self._a
        b = self._b
        for i in range(n, 2 * n):
            a += win[i]
            b += a
        self._a = a % 65521
        self._b = b % 65521
        first = self._rows == 0
        i = n
        end = 2 * n
        bpp = self._bpp
        while i < end:
            best = 0
            dist = 0
            if i - n >= bpp:
                best = _run(win, i, bpp, min(end, i + _MAX_MATCH))
                dist = bpp
            if not first and n <= 32768:  # deflate's window
                up = _run(win, i, n, min(end, i + _MAX_MATCH))
                if up > best:
                    best = up
                    dist = n
            if best >= 3:
                self._match(best, dist)
                i += best
            else:
                self._literal(win[i])
                i += 1
        self._rows += 1
        if len(self._out) >= _CHUNK:
            self._chunk(b"IDAT", self._out)
            self._out = bytearray()

    def close(self):
        if self._rows != self._h:
            raise ValueError("missing rows")
        self._put(0, 7)  # end of block (symbol 256)
        if self._nbits:
            self._put(0, 8 - self._nbits)
        self._out += struct.pack(">I", (self._b << 16) | self._a)
        self._chunk(b"IDAT", self._out)
        self._chunk(b"IEND", b"")
        self._out = None


def write_pbm(stream, width, height, row_source):
    """Binary PBM (P4); row_source(y) returns packed rows, 1 = black."""
    stream.write(b"P4\n%d %d\n" % (width, height))
    for y in range(height):
        stream.write(row_source(y))
