# "File" panels for the unix port: the same drawing and panel code, but show()
# writes the picture to a PNG file (and optionally a PBM of the 1-bit canvas)
# instead of driving a bus. Used by the tests' golden images and the simulator.
import framebuf
import micropython
from display.ssd1306 import SSD1306
from display.st7789 import ST7789
from display import png


class SSD1306File(SSD1306):
    """SSD1306 whose show() writes a 1-bit grey PNG: lit pixels are white."""

    def __init__(self, path, width=128, height=64, pbm_path=None, font_dir=None):
        SSD1306.__init__(self, width, height, False, font_dir)
        self.path = path
        self.pbm_path = pbm_path
        self._row = bytearray((width + 7) >> 3)
        self._row_fb = framebuf.FrameBuffer(self._row, width, 1, framebuf.MONO_HLSB)

    def _command(self, cmds):
        pass

    def _data(self, buf):
        pass

    def _hlsb_row(self, y):
        # one row of the VLSB panel buffer as packed MSB-first bits
        self._row_fb.blit(self.fb, 0, -y)
        return self._row

    def show(self):
        with open(self.path, "wb") as f:
            w = png.PNGWriter(f, self.width, self.height, png.GRAY, 1)
            for y in range(self.height):
                w.write_row(self._hlsb_row(y))
            w.close()
        if self.pbm_path:
            save_pbm(self, self.pbm_path)


class ST7789File(ST7789):
    """ST7789 whose show() runs the real band expansion and writes an RGB PNG
    of the RGB565 bytes the panel would have received."""

    def __init__(self, path, width=240, height=240, band_rows=16, pbm_path=None,
                 font_dir=None):
        ST7789.__init__(self, width, height, 0, 0, band_rows, font_dir)
        self.path = path
        self.pbm_path = pbm_path
        self._rgb = bytearray(width * 3)
        self._png = None
        self._f = None
        self._sleep_ms = _no_sleep  # no panel to wait for

    def _cmd(self, c, data=None):
        if c == 0x2C:  # RAMWR: a new frame starts
            self._f = open(self.path, "wb")
            self._png = png.PNGWriter(self._f, self.width, self.height, png.RGB, 8)

    def _pixels(self, buf):
        row = self.width * 2
        for start in range(0, len(buf), row):
            _rgb565_to_rgb888(buf, start, self._rgb, self.width)
            self._png.write_row(self._rgb)

    def _end(self):
        self._png.close()
        self._f.close()
        self._png = None
        self._f = None
        if self.pbm_path:
            save_pbm(self, self.pbm_path)


def _no_sleep(ms):
    pass


@micropython.viper
def _rgb565_to_rgb888(src, start: int, dst, n: int):
    s = ptr8(src)
    d = ptr8(dst)
    for i in range(n):
        c = s[start + 2 * i] << 8 | s[start + 2 * i + 1]  # big-endian on the wire
        r = c >> 11 & 0x1F
        g = c >> 5 & 0x3F
        b = c & 0x1F
        d[3 * i] = r << 3 | r >> 2
        d[3 * i + 1] = g << 2 | g >> 4
        d[3 * i + 2] = b << 3 | b >> 2


def save_pbm(canvas, path):
    """The 1-bit canvas as a binary PBM (ink = black, like a printout)."""
    w = canvas.width
    row = bytearray((w + 7) >> 3)
    row_fb = framebuf.FrameBuffer(row, w, 1, framebuf.MONO_HLSB)

    def source(y):
        row_fb.blit(canvas.fb, 0, -y)
        return row

    with open(path, "wb") as f:
        png.write_pbm(f, w, canvas.height, source)
