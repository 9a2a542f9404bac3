# SSD1306 OLED controller (128x64 or 128x32), written from the Solomon Systech
# datasheet. SSD1306 holds the drawing state (a MONO_VLSB canvas, which is the
# controller's own page layout, so show() sends the buffer as it is);
# SSD1306_I2C only knows how to put command and data bytes on the bus.
from micropython import const
import framebuf
from display.canvas import Canvas

_SET_CONTRAST = const(0x81)
_DISPLAY_ON = const(0xAF)
_DISPLAY_OFF = const(0xAE)
_INVERT = const(0xA6)  # | 1 = inverted
_COL_ADDR = const(0x21)
_PAGE_ADDR = const(0x22)


class SSD1306(Canvas):
    def __init__(self, width=128, height=64, external_vcc=False, font_dir=None):
        Canvas.__init__(self, width, height, framebuf.MONO_VLSB, font_dir)
        self.external_vcc = external_vcc
        self.pages = height >> 3

    def init_commands(self):
        """The power-up command sequence (bytes), in datasheet order."""
        ext = self.external_vcc
        return bytes((
            _DISPLAY_OFF,
            0xD5, 0x80,                    # clock divide ratio / oscillator
            0xA8, self.height - 1,         # multiplex ratio
            0xD3, 0x00,                    # display offset
            0x40,                          # start line 0
            0x8D, 0x10 if ext else 0x14,   # charge pump off/on
            0x20, 0x00,                    # horizontal addressing
            0xA1,                          # column 127 -> SEG0 (mirror x)
            0xC8,                          # scan COM[N-1]..COM0 (mirror y)
            0xDA, 0x12 if self.height == 64 else 0x02,  # COM pin layout
            _SET_CONTRAST, 0x9F if ext else 0xCF,
            0xD9, 0x22 if ext else 0xF1,   # pre-charge period
            0xDB, 0x40,                    # VCOMH deselect level
            0xA4,                          # show RAM contents
            _INVERT,
            _DISPLAY_ON,
        ))

    def init_display(self):
        self._command(self.init_commands())
        self.clear()
        self.show()

    def power(self, on):
        self._command(bytes((_DISPLAY_ON if on else _DISPLAY_OFF,)))

    def contrast(self, value):
        self._command(bytes((_SET_CONTRAST, value & 0xFF)))

    def invert(self, on):
        self._command(bytes((_INVERT | (1 if on else 0),)))

    def show(self):
        self._command(bytes((_COL_ADDR, 0, self.width - 1, _PAGE_ADDR, 0, self.pages - 1)))
        self._data(self.buffer)

    # bus layer: subclasses send a command stream / the frame buffer
    def _command(self, cmds):
        raise NotImplementedError

    def _data(self, buf):
        raise NotImplementedError


class SSD1306_I2C(SSD1306):
    """SSD1306 on a machine.I2C bus (address 0x3C or 0x3D)."""

    def __init__(self, i2c, addr=0x3C, width=128, height=64, external_vcc=False,
                 font_dir=None):
        SSD1306.__init__(self, width, height, external_vcc, font_dir)
        self.i2c = i2c
        self.addr = addr
        self._ctrl_cmd = b"\x00"   # Co=0, D/C#=0: the rest are commands
        self._ctrl_data = b"\x40"  # Co=0, D/C#=1: the rest is display RAM data

    def _command(self, cmds):
        self.i2c.writevto(self.addr, (self._ctrl_cmd, cmds))

    def _data(self, buf):
        self.i2c.writevto(self.addr, (self._ctrl_data, buf))
