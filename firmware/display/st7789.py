# ST7789 240x240 IPS TFT (RGB565 over SPI), written from the Sitronix datasheet.
#
# Memory: a full RGB565 frame would be 240*240*2 = 115,200 bytes, more than a
# plain ESP32 has free. The canvas stays 1 bit per pixel (MONO_HLSB, 7,200
# bytes) and show() expands it band by band (16 rows = 7,680 bytes) into
# RGB565 with FrameBuffer.blit and a 2-colour palette per colour zone, then
# streams each band to the panel: about 15 KB in all.
from micropython import const
import framebuf
import time
from display.canvas import Canvas, WHITE, BLACK

_SWRESET = const(0x01)
_SLPOUT = const(0x11)
_NORON = const(0x13)
_INVON = const(0x21)
_DISPON = const(0x29)
_CASET = const(0x2A)
_RASET = const(0x2B)
_RAMWR = const(0x2C)
_MADCTL = const(0x36)
_COLMOD = const(0x3A)


def rgb565(rgb):
    """0xRRGGBB -> RGB565 with its bytes swapped, so that framebuf (which
    stores pixels little-endian) lays them out big-endian as the panel reads."""
    c = (rgb >> 8 & 0xF800) | (rgb >> 5 & 0x07E0) | (rgb >> 3 & 0x001F)
    return (c & 0xFF) << 8 | c >> 8


class ST7789(Canvas):
    def __init__(self, width=240, height=240, xstart=0, ystart=0, band_rows=16,
                 font_dir=None, invert=True):
        Canvas.__init__(self, width, height, framebuf.MONO_HLSB, font_dir)
        self.invert = invert
        self.xstart = xstart
        self.ystart = ystart
        self.band_rows = band_rows
        self.band = bytearray(width * band_rows * 2)
        self._band_mv = memoryview(self.band)
        self._band_fb = framebuf.FrameBuffer(self.band, width, band_rows, framebuf.RGB565)
        self._pal565 = framebuf.FrameBuffer(bytearray(4), 2, 1, framebuf.RGB565)
        self._sleep_ms = getattr(time, "sleep_ms", None) or (lambda ms: time.sleep(ms / 1000))

    def init_display(self):
        self._reset()
        self._cmd(_SWRESET)
        self._sleep_ms(150)
        self._cmd(_SLPOUT)
        self._sleep_ms(10)
        self._cmd(_COLMOD, b"\x55")   # 16 bits per pixel
        self._cmd(_MADCTL, b"\x00")   # top-to-bottom, left-to-right, RGB order
        if self.invert:
            self._cmd(_INVON)         # most 240x240 IPS panels need it for true colours
        self._cmd(_NORON)
        self._cmd(_DISPON)
        self.clear()
        self.show()

    def _colours_at(self, y):
        # (first row after this colour run, fg, bg): last zone wins
        fg = WHITE
        bg = BLACK
        end = self.height
        for y0, y1, zfg, zbg in self.zones:
            if y0 <= y < y1:
                fg = zfg
                bg = zbg
                end = min(end, y1)
            elif y0 > y:
                end = min(end, y0)
        return end, fg, bg

    def show(self):
        x0 = self.xstart
        y0 = self.ystart
        self._cmd(_CASET, bytes((x0 >> 8, x0 & 0xFF, (x0 + self.width - 1) >> 8,
                                 (x0 + self.width - 1) & 0xFF)))
        self._cmd(_RASET, bytes((y0 >> 8, y0 & 0xFF, (y0 + self.height - 1) >> 8,
                                 (y0 + self.height - 1) & 0xFF)))
        self._cmd(_RAMWR)
        pal = self._pal565
        band = self._band_fb
        row_bytes = self.width * 2
        y = 0
        while y < self.height:
            end, fg, bg = self._colours_at(y)
            pal.pixel(0, 0, rgb565(bg))
            pal.pixel(1, 0, rgb565(fg))
            while y < end:
                rows = min(self.band_rows, end - y)
                band.blit(self.fb, 0, -y, -1, pal)
                self._pixels(self._band_mv[:rows * row_bytes])
                y += rows
        self._end()

    # bus layer
    def _reset(self):
        pass

    def _cmd(self, c, data=None):
        raise NotImplementedError

    def _pixels(self, buf):
        raise NotImplementedError

    def _end(self):
        pass


class ST7789_SPI(ST7789):
    """ST7789 on a machine.SPI bus with D/C, optional CS, reset and backlight Pins."""

    def __init__(self, spi, dc, cs=None, rst=None, backlight=None, width=240, height=240,
                 xstart=0, ystart=0, band_rows=16, font_dir=None, invert=True):
        ST7789.__init__(self, width, height, xstart, ystart, band_rows, font_dir, invert)
        self.spi = spi
        self.dc = dc
        self.cs = cs
        self.rst = rst
        self.backlight = backlight
        self._c = bytearray(1)
        dc.init(dc.OUT, value=0)
        if cs:
            cs.init(cs.OUT, value=1)
        if rst:
            rst.init(rst.OUT, value=1)
        if backlight:
            backlight.init(backlight.OUT, value=0)

    def _reset(self):
        if self.rst:
            self.rst(0)
            self._sleep_ms(10)
            self.rst(1)
            self._sleep_ms(120)

    def _cmd(self, c, data=None):
        if self.cs:
            self.cs(0)
        self.dc(0)
        self._c[0] = c
        self.spi.write(self._c)
        if data:
            self.dc(1)
            self.spi.write(data)
        if self.cs and c != _RAMWR:  # RAMWR: CS stays low for the pixels
            self.cs(1)

    def _pixels(self, buf):
        # inside RAMWR: D/C high, the panel keeps taking pixels until CS rises
        self.dc(1)
        self.spi.write(buf)

    def _end(self):
        if self.cs:
            self.cs(1)
        if self.backlight:
            self.backlight(1)
