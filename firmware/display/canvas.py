# Drawing logic shared by every panel: a 1-bit frame buffer, text with the
# GGF1 bitmap fonts (UTF-8, wrapping, centring, ellipsis), icons and inverted
# bars. Panels subclass Canvas and implement show(); colour panels also read
# the colour zones (horizontal bands with a foreground/background colour), so
# the frame buffer stays 1 bit per pixel on every panel.
from micropython import const
import framebuf

LEFT = const(0)
CENTER = const(1)
RIGHT = const(2)

# zone colours (0xRRGGBB): mono panels ignore them
WHITE = const(0xFFFFFF)
BLACK = const(0x000000)
GREEN = const(0x00A040)
RED = const(0xD01010)
AMBER = const(0xE08000)
BLUE = const(0x1050C0)

_ELLIPSIS = "\u2026"


class Canvas:
    def __init__(self, width, height, fmt, font_dir=None):
        self.width = width
        self.height = height
        if fmt == framebuf.MONO_VLSB:
            size = width * ((height + 7) >> 3)
        else:
            size = ((width + 7) >> 3) * height
        self.buffer = bytearray(size)
        self.fb = framebuf.FrameBuffer(self.buffer, width, height, fmt)
        self._pal = framebuf.FrameBuffer(bytearray(1), 2, 1, framebuf.MONO_HLSB)
        self._font_dir = font_dir  # None: display.resource() finds the fonts
        self._fonts = {}
        self.zones = []

    # -- resources --
    def font(self, name):
        f = self._fonts.get(name)
        if f is None:
            from display.font import Font
            from display import resource

            fname = "font_" + name + ".bin"
            f = Font(self._font_dir + "/" + fname if self._font_dir
                     else resource(fname))
            self._fonts[name] = f
        return f

    # -- what the fleet's screenshot command sends back --
    def screenshot(self, stream):
        """Write the 1-bit canvas as a PNG to `stream` (lit pixels white),
        one row at a time: works on every panel, ESP32 included."""
        from display import png

        row = bytearray((self.width + 7) >> 3)
        row_fb = framebuf.FrameBuffer(row, self.width, 1, framebuf.MONO_HLSB)
        w = png.PNGWriter(stream, self.width, self.height, png.GRAY, 1)
        for y in range(self.height):
            row_fb.blit(self.fb, 0, -y)
            w.write_row(row)
        w.close()

    # -- plain drawing --
    def clear(self, color=0):
        self.fb.fill(color)
        self.zones = []

    def zone(self, y0, y1, fg, bg):
        """Colour rows y0..y1-1: ink pixels fg, paper pixels bg (0xRRGGBB)."""
        self.zones.append((y0, y1, fg, bg))

    def fill_rect(self, x, y, w, h, color=1):
        self.fb.fill_rect(x, y, w, h, color)

    def hline(self, x, y, w, color=1):
        self.fb.hline(x, y, w, color)

    def icon(self, name, x, y, scale=1, color=1):
        """Draw a 16x16 icon from display/icons.py, scaled by an integer."""
        from display import icons
        bits = icons.get(name)
        for row in range(16):
            v = bits[2 * row] << 8 | bits[2 * row + 1]
            if not v:
                continue
            col = 0
            while v:
                if v & 0x8000:
                    start = col
                    while v & 0x8000:  # one rectangle per horizontal run
                        v = (v << 1) & 0xFFFF
                        col += 1
                    self.fb.fill_rect(x + start * scale, y + row * scale,
                                      (col - start) * scale, scale, color)
                else:
                    v = (v << 1) & 0xFFFF
                    col += 1

    # -- text --
    def measure(self, s, font):
        """Width in pixels of s in font (missing glyphs count as placeholders)."""
        b = _utf8(s)
        n = len(b)
        i = 0
        w = 0
        while i < n:
            c = b[i]
            if c < 0x80:
                i += 1
            elif c < 0xE0:
                c = (c & 0x1F) << 6 | (b[i + 1] & 0x3F)
                i += 2
            elif c < 0xF0:
                c = (c & 0x0F) << 12 | (b[i + 1] & 0x3F) << 6 | (b[i + 2] & 0x3F)
                i += 3
            else:
                c = 0x10000  # outside the BMP: never in our fonts
                i += 4
            w += font.advance(c)
        return w

    def text(self, s, x, y, font, color=1):
        """Draw s with its line top at (x, y); return the x after the text."""
        pal = self._pal
        pal.pixel(0, 0, 1 - color)
        pal.pixel(1, 0, color)
        key = 1 - color
        fb = self.fb
        b = _utf8(s)
        n = len(b)
        i = 0
        limit = self.width
        while i < n and x < limit:
            c = b[i]
            if c < 0x80:
                i += 1
            elif c < 0xE0:
                c = (c & 0x1F) << 6 | (b[i + 1] & 0x3F)
                i += 2
            elif c < 0xF0:
                c = (c & 0x0F) << 12 | (b[i + 1] & 0x3F) << 6 | (b[i + 2] & 0x3F)
                i += 3
            else:
                c = 0x10000
                i += 4
            x += font.draw(fb, c, x, y, pal, key)
        return x

    def text_aligned(self, s, y, font, align=CENTER, color=1, x=0, width=None):
        """One line in the box [x, x+width), cut with an ellipsis if too wide."""
        if width is None:
            width = self.width - x
        s = self.fit(s, font, width)
        w = self.measure(s, font)
        if align == CENTER:
            x += (width - w) >> 1
        elif align == RIGHT:
            x += width - w
        self.text(s, x, y, font, color)

    def fit(self, s, font, width):
        """s, or its longest prefix + "…" that fits in width pixels."""
        if self.measure(s, font) <= width:
            return s
        room = width - font.advance(0x2026)
        out = ""
        w = 0
        for ch in s:
            w += font.advance(ord(ch))
            if w > room:
                break
            out += ch
        return out.rstrip() + _ELLIPSIS

    def wrap(self, s, font, width):
        """Greedy word wrap into lines no wider than width (long words split)."""
        lines = []
        space = font.advance(0x20)
        for para in s.split("\n"):
            line = ""
            lw = 0
            for word in para.split(" "):
                if not word:
                    continue
                ww = self.measure(word, font)
                if line and lw + space + ww <= width:
                    line += " " + word
                    lw += space + ww
                    continue
                if line:
                    lines.append(line)
                if ww <= width:
                    line = word
                    lw = ww
                    continue
                line = ""  # a word wider than the line: split by characters
                lw = 0
                for ch in word:
                    cw = font.advance(ord(ch))
                    if line and lw + cw > width:
                        lines.append(line)
                        line = ""
                        lw = 0
                    line += ch
                    lw += cw
            lines.append(line)
        return lines

    def paragraph(self, s, y, font, max_lines, align=CENTER, color=1, x=0,
                  width=None, pitch=None):
        """Wrapped text from y, at most max_lines (last one gets "…" if cut).

        Returns the y below the last line drawn."""
        if width is None:
            width = self.width - x
        if pitch is None:
            pitch = font.height
        lines = self.wrap(s, font, width)
        if max_lines < 1:
            return y
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = self.fit(lines[-1] + _ELLIPSIS, font, width)
        for line in lines:
            self.text_aligned(line, y, font, align, color, x, width)
            y += pitch
        return y

    def bar(self, y, h, s, font, align=CENTER, pad=2):
        """Inverted header bar: filled band with the text cut out of it."""
        self.fb.fill_rect(0, y, self.width, h, 1)
        ty = y + ((h - font.height) >> 1)
        self.text_aligned(s, ty, font, align, 0, pad, self.width - 2 * pad)


def _utf8(s):
    # zero-copy view of a str's UTF-8 bytes where the port allows it
    if isinstance(s, str):
        try:
            return memoryview(s)
        except TypeError:
            return s.encode()
    return s
