# Bitmap font reader for the "GGF1" files made by tools/fonts/gen_font.py.
#
# From a filesystem only the index (5 bytes per glyph) is kept in RAM; each
# glyph is read from flash into one reusable buffer when it is drawn. From a
# ROMFS image (files there are addressable flash) or a bytes-like object (e.g.
# a frozen module's bytes, which stay in ROM) the font is read in place:
# nothing is copied but the glyph being drawn.
import micropython
from micropython import const
import framebuf

_HEAD = const(16)
_REC = const(4)  # width, x offset, top row, rows


@micropython.viper
def _copy(dst, src, off: int, n: int):
    # dst[:n] = src[off:off + n] without slice objects (fonts read in place)
    d = ptr8(dst)
    s = ptr8(src)
    for i in range(n):
        d[i] = s[off + i]


class Font:
    def __init__(self, source):
        self._file = None
        self._data = None
        if isinstance(source, str):
            f = open(source, "rb")
            try:
                self._data = memoryview(f)  # ROMFS: read in place
                f.close()
            except TypeError:
                self._file = f
        else:
            self._data = memoryview(source)
        if self._file:
            head = self._file.read(_HEAD)
        else:
            head = bytes(self._data[:_HEAD])
        if len(head) != _HEAD or head[:4] != b"GGF1":
            raise ValueError("not a GGF1 font")
        self.height = head[4]
        self.baseline = head[5]
        n = head[6] | head[7] << 8
        self._n = n
        self._ascii = head[8] | head[9] << 8
        self._max_rec = head[12] | head[13] << 8
        self.placeholder_advance = head[14] | head[15] << 8
        if self._file:
            self._index = self._file.read(5 * n)
            if len(self._index) != 5 * n:
                raise ValueError("truncated font")
        else:
            self._index = self._data[_HEAD:_HEAD + 5 * n]
        self._records = _HEAD + 5 * n
        self._buf = bytearray(self._max_rec)  # the glyph being drawn
        # its bits as FrameBuffer.blit takes a source: [buffer, width, rows,
        # format], updated in place (no FrameBuffer object per glyph shape)
        self._glyph = [memoryview(self._buf)[_REC:], 0, 0, framebuf.MONO_HLSB]
        self._last = -1    # glyph index whose record is in self._buf
        self.missing = 0   # placeholders drawn so far (tests, diagnostics)

    def close(self):
        if self._file:
            self._file.close()
            self._file = None

    def find(self, cp):
        """Index of codepoint cp, or -1 if the font has no glyph for it."""
        if 0x20 <= cp < 0x7F and self._ascii != 0xFFFF:
            return self._ascii + cp - 0x20
        idx = self._index
        lo = 0
        hi = self._n
        while lo < hi:
            mid = (lo + hi) >> 1
            v = idx[2 * mid] | idx[2 * mid + 1] << 8
            if v < cp:
                lo = mid + 1
            else:
                hi = mid
        if lo < self._n and (idx[2 * lo] | idx[2 * lo + 1] << 8) == cp:
            return lo
        return -1

    def _load(self, i):
        # Glyph record i into self._buf (width, xoff, top, rows, bits).
        if i == self._last:
            return
        idx = self._index
        j = 2 * (self._n + i)
        off = self._records + (idx[j] | idx[j + 1] << 8)
        if self._file:
            # one read of the longest record size: no slice objects, one call
            # (bytes past this record are just never looked at)
            self._file.seek(off)
            self._file.readinto(self._buf)
        else:
            d = self._data
            n = _REC + d[off + 3] * ((d[off] + 7) >> 3)
            # bounds checked here: the viper copy does not check them
            _copy(self._buf, d, off, min(n, len(self._buf), len(d) - off))
        self._last = i

    def advance(self, cp):
        i = self.find(cp)
        if i < 0:
            return self.placeholder_advance
        return self._index[4 * self._n + i]

    def draw(self, fb, cp, x, y, palette, key):
        """Draw codepoint cp with its line top at (x, y); return the advance.

        palette/key as FrameBuffer.blit takes them: the glyph's 1 bits become
        palette[1], its 0 bits are skipped (key = palette[0]).
        """
        i = self.find(cp)
        if i < 0:
            return self.placeholder(fb, x, y, palette.pixel(1, 0))
        self._load(i)
        b = self._buf
        rows = b[3]
        if rows:
            glyph = self._glyph
            glyph[1] = b[0]
            glyph[2] = rows
            xoff = b[1]
            if xoff > 127:
                xoff -= 256
            fb.blit(glyph, x + xoff, y + b[2], key, palette)
        return self._index[4 * self._n + i]

    def placeholder(self, fb, x, y, color):
        """Hollow box for a character the font lacks; return its advance."""
        self.missing += 1
        adv = self.placeholder_advance
        top = self.height - self.baseline  # leave room above like a capital
        fb.rect(x + 1, y + top, adv - 2, self.baseline - top, color)
        return adv
