# Test driver, run under the real MicroPython unix port: one JSON request per
# stdin line, one JSON answer per stdout line (same "id"). Exercises the
# display package: screens to PNG/PBM, fonts, the PNG writer, the I2C/SPI
# panels against recording fake buses.
import sys
import json
import time
import binascii

import framebuf
from display.filedisp import SSD1306File, ST7789File
from display.screens import Screens
from display.font import Font
from display import messages
from display import png


class FakeI2C:
    """Records every write as (address, bytes) as machine.I2C would send it."""

    def __init__(self):
        self.log = []

    def writevto(self, addr, bufs):
        data = b""
        for b in bufs:
            data += bytes(b)
        self.log.append([addr, binascii.hexlify(data).decode()])

    def writeto(self, addr, buf):
        self.log.append([addr, binascii.hexlify(bytes(buf)).decode()])


class FakePin:
    OUT = 1
    IN = 0

    def __init__(self, name, log):
        self.name = name
        self.log = log
        self.v = None

    def init(self, mode=-1, value=None):
        if value is not None:
            self(value)

    def __call__(self, v=None):
        if v is None:
            return self.v
        if v != self.v:
            self.v = v
            self.log.append([self.name, v])


class FakeSPI:
    """Records writes with the D/C and CS levels at the time of the write."""

    def __init__(self, log):
        self.log = log
        self.dc = None
        self.cs = None

    def write(self, buf):
        self.log.append(["spi", self.dc.v, self.cs.v if self.cs else None,
                         binascii.hexlify(bytes(buf)).decode()])


def _panel(kind, path, pbm=None):
    if kind == "st7789":
        return ST7789File(path, pbm_path=pbm)
    return SSD1306File(path, pbm_path=pbm)


def _no_show():
    pass


def _draw_pattern(d):
    d.clear()
    d.fill_rect(3, 5, 40, 7, 1)
    d.text("Đã bị thu hồi", 10, 20, d.font("sans10"))
    d.hline(0, d.height - 1, d.width)


def handle(q):
    op = q["op"]
    if op == "screen":
        d = _panel(q["panel"], q.get("png") or "/dev/null", q.get("pbm"))
        if not q.get("png"):
            d.show = _no_show  # layout and glyph checks only
        s = Screens(d, q.get("lang", "vi+en"))
        fonts = []
        for f in (s.f_small, s.f_body, s.f_big):
            if f not in fonts:  # the small layout uses one font twice
                fonts.append(f)
        before = sum(f.missing for f in fonts)
        texts_before = messages._table().missing
        ret = getattr(s, q["method"])(*q["args"])
        return {"ret": ret, "missing": sum(f.missing for f in fonts) - before,
                "texts_missing": messages._table().missing - texts_before}
    if op == "use_texts":
        # screen texts from another table (a path; None: the shipped texts.bin)
        messages.use(q.get("source"))
        return {}
    if op == "text":
        d = _panel(q["panel"], q["png"])
        f = d.font(q["font"])
        d.clear()
        x = d.text(q["text"], q.get("x", 0), q.get("y", 0), f)
        d.show()
        return {"missing": f.missing, "x": x, "width": d.measure(q["text"], f),
                "height": f.height, "baseline": f.baseline,
                "found": [f.find(ord(c)) >= 0 for c in q["text"]]}
    if op == "font_bytes":
        # the same glyph from a file and from an in-memory copy of it
        path = d_font_path(q["font"])
        with open(path, "rb") as fh:
            blob = fh.read()
        out = []
        for src in (path, blob):
            f = Font(src)
            c = framebuf.FrameBuffer(bytearray(64 * 64 // 8), 64, 64, framebuf.MONO_HLSB)
            pal = framebuf.FrameBuffer(bytearray(1), 2, 1, framebuf.MONO_HLSB)
            pal.pixel(1, 0, 1)
            x = 0
            for ch in q["text"]:
                x += f.draw(c, ord(ch), x, 0, pal, 0)
            out.append(binascii.hexlify(bytes(c)).decode())
        return {"file": out[0], "blob": out[1]}
    if op == "png":
        with open(q["out"], "wb") as fh:
            w = png.PNGWriter(fh, q["w"], q["h"], q["ct"], q["depth"])
            for row in q["rows"]:
                w.write_row(binascii.unhexlify(row))
            w.close()
        return {}
    if op == "i2c":
        from display.ssd1306 import SSD1306_I2C
        bus = FakeI2C()
        d = SSD1306_I2C(bus, q.get("addr", 0x3C), height=q.get("height", 64),
                        external_vcc=q.get("external_vcc", False))
        d.init_display()
        _draw_pattern(d)
        d.show()
        d.contrast(0x10)
        d.invert(True)
        d.power(False)
        return {"log": bus.log, "canvas": binascii.hexlify(d.buffer).decode()}
    if op == "spi":
        from display.st7789 import ST7789_SPI
        log = []
        dc = FakePin("dc", log)
        cs = FakePin("cs", log) if q.get("cs", True) else None
        rst = FakePin("rst", log)
        bl = FakePin("bl", log)
        spi = FakeSPI(log)
        spi.dc = dc
        spi.cs = cs
        d = ST7789_SPI(spi, dc, cs, rst, bl, band_rows=q.get("band", 16),
                       ystart=q.get("ystart", 0))
        d._sleep_ms = lambda ms: log.append(["sleep", ms])
        d.init_display()
        init = log[:]
        del log[:]
        _draw_pattern(d)
        for z in q.get("zones", []):
            d.zone(*z)
        d.show()
        return {"init": init, "log": log, "canvas": binascii.hexlify(d.buffer).decode()}
    if op == "bench":
        d = _panel(q["panel"], "/dev/null")
        s = Screens(d)
        d.show = lambda: None  # drawing only
        n = q.get("n", 20)
        out = {}
        for name, args in q["screens"]:
            m = getattr(s, name)
            m(*args)  # warm the font caches
            t = time.ticks_us()
            for _ in range(n):
                m(*args)
            out[name] = time.ticks_diff(time.ticks_us(), t) / n / 1000
        return out
    if op == "memory":
        class NullBus:
            def writevto(self, addr, bufs):
                pass

            def write(self, buf):
                pass

        # heap held by a ready panel + Screens (fonts loaded), and the heap a
        # screen allocates while drawing (gc off, so nothing is reclaimed)
        import gc
        from display.ssd1306 import SSD1306_I2C
        from display.st7789 import ST7789_SPI
        import display.screens  # noqa: F401 (code objects are not counted below)
        import display.font  # noqa: F401
        import display.icons  # noqa: F401
        out = {}
        for name in ("ssd1306", "st7789"):
            gc.collect()
            before = gc.mem_alloc()
            if name == "ssd1306":
                d = SSD1306_I2C(NullBus())
            else:
                d = ST7789_SPI(NullBus(), FakePin("dc", []))
            s = Screens(d)
            s.deny(16)  # warm: glyph shapes cached
            gc.collect()
            held = gc.mem_alloc() - before
            gc.disable()
            a0 = gc.mem_alloc()
            d.show = _no_show
            s.deny(16)
            per_deny = gc.mem_alloc() - a0
            a0 = gc.mem_alloc()
            s.idle("Chợ Bình Tây – Cổng 2", "10:42", True, 12, 345, 0)
            per_idle = gc.mem_alloc() - a0
            gc.enable()
            # every screen once (any glyph-shape cache would fill up here)
            for code in range(64):
                s.deny(code)
            for role in range(6):
                s.accept(role, "ĐVƯ", 1969)
            s.out_of_sync()
            s.suspended()
            s.full()
            s.setup("gg-7f3a9c")
            s.error("Máy quét không phản hồi")
            s.message("Cổng đóng lúc 18:00 hôm nay.", 30)
            gc.collect()
            out[name] = {"held": held, "held_all_screens": gc.mem_alloc() - before,
                         "deny_alloc": per_deny, "idle_alloc": per_idle}
            del d, s
        return out
    if op == "make":
        import display
        d = display.make(q["cfg"], {"dump": q["png"]})
        Screens(d).full()
        return {"w": d.width, "h": d.height, "cls": type(d).__name__}
    if op == "bench_show":
        # show() into recording-free fake buses: SSD1306 page copy, ST7789 band expansion
        from display.ssd1306 import SSD1306_I2C
        from display.st7789 import ST7789_SPI

        class NullBus:
            def writevto(self, addr, bufs):
                pass

            def write(self, buf):
                pass

        log = []
        panels = {"ssd1306": SSD1306_I2C(NullBus()),
                  "st7789": ST7789_SPI(NullBus(), FakePin("dc", log), FakePin("cs", log))}
        out = {}
        for name, d in panels.items():
            Screens(d).deny(16)
            t = time.ticks_us()
            for _ in range(q.get("n", 20)):
                d.show()
            out[name] = time.ticks_diff(time.ticks_us(), t) / q.get("n", 20) / 1000
        return out
    raise ValueError("unknown op " + op)


def d_font_path(name):
    import display
    return display.__file__.rsplit("/", 1)[0] + "/font_" + name + ".bin"


for line in sys.stdin:
    if not line.strip():
        continue
    q = json.loads(line)
    try:
        a = handle(q)
    except Exception as e:  # report, keep serving the other requests
        sys.print_exception(e, sys.stderr)
        a = {"error": "%s: %s" % (type(e).__name__, e)}
    a["id"] = q.get("id")
    print(json.dumps(a))
