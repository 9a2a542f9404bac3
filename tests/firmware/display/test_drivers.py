"""SSD1306 (I2C) and ST7789 (SPI) panels, byte-exact against recording fake
buses under MicroPython. Expected bytes come from the controllers' datasheets
(written out here, not imported from the firmware) and from the canvas bits."""
import pytest

# SSD1306 power-up, datasheet order: display off, clock, mux, offset, start
# line, charge pump, addressing mode, segment remap, COM scan, COM pins,
# contrast, pre-charge, VCOMH, resume RAM, normal, display on
def ssd1306_init(height, external_vcc):
    return bytes([
        0xAE, 0xD5, 0x80, 0xA8, height - 1, 0xD3, 0x00, 0x40,
        0x8D, 0x10 if external_vcc else 0x14, 0x20, 0x00, 0xA1, 0xC8,
        0xDA, 0x12 if height == 64 else 0x02, 0x81, 0x9F if external_vcc else 0xCF,
        0xD9, 0x22 if external_vcc else 0xF1, 0xDB, 0x40, 0xA4, 0xA6, 0xAF])


def hx(b):
    return bytes(b).hex()


@pytest.mark.parametrize("height,ext,addr", [(64, False, 0x3C), (32, True, 0x3D)])
def test_ssd1306_i2c_bytes(display_run, height, ext, addr):
    [a] = display_run([{"op": "i2c", "addr": addr, "height": height, "external_vcc": ext}])
    canvas = bytes.fromhex(a["canvas"])
    pages = height // 8
    assert len(canvas) == 128 * pages
    window = bytes([0x00, 0x21, 0, 127, 0x22, 0, pages - 1])
    want = [
        [addr, hx(b"\x00" + ssd1306_init(height, ext))],   # Co=0 D/C#=0: command stream
        [addr, hx(window)],
        [addr, hx(b"\x40" + bytes(128 * pages))],           # D/C#=1: blank RAM
        [addr, hx(window)],
        [addr, hx(b"\x40" + canvas)],
        [addr, hx(b"\x00\x81\x10")],                        # contrast 0x10
        [addr, hx(b"\x00\xa7")],                            # inverse display
        [addr, hx(b"\x00\xae")],                            # display off
    ]
    assert a["log"] == want
    # the canvas is in the controller's page layout: byte = page*128 + x, bit = y % 8
    def pixel(x, y):
        return canvas[(y // 8) * 128 + x] >> (y % 8) & 1
    assert all(pixel(x, y) for x in range(3, 43) for y in range(5, 12))
    assert not any(pixel(x, y) for x in range(44, 128) for y in range(0, 12))
    assert all(pixel(x, height - 1) for x in range(128))
    assert any(pixel(x, y) for x in range(10, 100) for y in range(20, min(35, height)))


def rgb565_be(rgb):
    r, g, b = rgb >> 16 & 255, rgb >> 8 & 255, rgb & 255
    v = (r >> 3) << 11 | (g >> 2) << 5 | b >> 3
    return bytes([v >> 8, v & 255])


def spi_writes(log):
    return [e[1:] for e in log if e[0] == "spi"]


@pytest.mark.parametrize("band,cs", [(16, True), (10, False)])
def test_st7789_spi_bytes(display_run, band, cs):
    zones = [[0, 40, 0x00A040, 0xFFFFFF], [30, 50, 0xD01010, 0x000000]]
    [a] = display_run([{"op": "spi", "band": band, "cs": cs, "zones": zones}])
    csv = 0 if cs else None
    # power-up: hardware reset, SWRESET, SLPOUT, COLMOD 16 bpp, MADCTL, INVON, NORON, DISPON
    init = [e for e in a["init"] if e[0] in ("spi", "sleep", "rst")]
    head = init[:init.index(["spi", 0, csv, "2c"]) + 1]
    assert head == [
        ["rst", 1], ["rst", 0], ["sleep", 10], ["rst", 1], ["sleep", 120],
        ["spi", 0, csv, "01"], ["sleep", 150], ["spi", 0, csv, "11"], ["sleep", 10],
        ["spi", 0, csv, "3a"], ["spi", 1, csv, "55"], ["spi", 0, csv, "36"],
        ["spi", 1, csv, "00"], ["spi", 0, csv, "21"], ["spi", 0, csv, "13"],
        ["spi", 0, csv, "29"],
        ["spi", 0, csv, "2a"], ["spi", 1, csv, "000000ef"],
        ["spi", 0, csv, "2b"], ["spi", 1, csv, "000000ef"], ["spi", 0, csv, "2c"]]
    writes = spi_writes(a["log"])
    assert writes[:5] == [[0, csv, "2a"], [1, csv, "000000ef"], [0, csv, "2b"],
                          [1, csv, "000000ef"], [0, csv, "2c"]]
    pixels = writes[5:]
    assert all(dc == 1 and c == csv for dc, c, _ in pixels)
    chunks = [bytes.fromhex(p) for _, _, p in pixels]
    assert all(len(c) % 480 == 0 and 0 < len(c) <= band * 480 for c in chunks)
    got = b"".join(chunks)
    # expected from the 1-bit canvas (MONO_HLSB) and the zones (last one wins)
    canvas = bytes.fromhex(a["canvas"])
    assert len(canvas) == 240 * 240 // 8
    want = bytearray()
    for y in range(240):
        fg, bg = 0xFFFFFF, 0x000000
        for y0, y1, zfg, zbg in zones:
            if y0 <= y < y1:
                fg, bg = zfg, zbg
        on, off = rgb565_be(fg), rgb565_be(bg)
        for x in range(240):
            bit = canvas[y * 30 + x // 8] >> (7 - x % 8) & 1
            want += on if bit else off
    assert got == bytes(want)
    # the backlight comes on after the first frame; CS stays low from RAMWR
    # through the last pixel and is released at the end
    assert ["bl", 1] in a["init"]
    if cs:
        ramwr = a["log"].index(["spi", 0, 0, "2c"])
        assert ["cs", 1] not in a["log"][ramwr:-1]
        assert a["log"][-1] == ["cs", 1]


@pytest.mark.parametrize("kind,size,cls", [("ssd1306", (128, 64), "SSD1306File"),
                                          ("st7789", (240, 240), "ST7789File")])
def test_make_from_hal_bus(display_run, tmp_path, kind, size, cls):
    """display.make() with the unix HAL's bus dict gives a PNG-dumping panel."""
    from PIL import Image
    png = tmp_path / "d.png"
    [a] = display_run([{"op": "make", "cfg": {"kind": kind}, "png": str(png)}])
    assert (a["w"], a["h"]) == size and a["cls"] == cls
    with Image.open(png) as im:
        assert im.size == size
        assert im.convert("L").getextrema()[1] > 0  # the "full" screen has ink
