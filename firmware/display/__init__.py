# Gate display: canvas + panel drivers (SSD1306 I2C, ST7789 SPI, PNG "file"
# panels for the unix port), bitmap fonts and the screens. See docs/display.md.


def make(cfg, bus):
    """A ready panel for the HAL's display bus dict (hal.display(cfg, pins)).

    cfg: {"kind": "ssd1306" | "st7789", ...}; bus: {"i2c": I2C} or
    {"spi", "dc", "cs", "rst", "bl"} on the device, {"dump": path} on unix."""
    kind = cfg.get("kind", "ssd1306")
    if "dump" in bus:
        from display import filedisp
        if kind == "st7789":
            panel = filedisp.ST7789File(bus["dump"])
        else:
            panel = filedisp.SSD1306File(bus["dump"])
    elif kind == "st7789":
        from display.st7789 import ST7789_SPI
        panel = ST7789_SPI(bus["spi"], bus["dc"], bus.get("cs"), bus.get("rst"), bus.get("bl"),
                           ystart=cfg.get("ystart", 0))
    else:
        from display.ssd1306 import SSD1306_I2C
        panel = SSD1306_I2C(bus["i2c"], cfg.get("addr", 0x3C))
    panel.init_display()
    return panel


def resource(name):
    """A data file of the display (font_*.bin, texts.bin). A frozen build
    carries them as bytes in the frozen module gg_data (tools/esp32: flash,
    read in place, nothing copied to RAM); otherwise the file in this
    package's directory: a ROMFS file is read in place too, a LittleFS one
    keeps its index in RAM (display/font.py)."""
    try:
        import gg_data

        return getattr(gg_data, name.replace(".", "_"))
    except (ImportError, AttributeError):
        pass
    here = globals().get("__file__")
    if not here or here.startswith(".frozen/"):
        return "/display/" + name  # frozen code, data files on the filesystem
    return here.rsplit("/", 1)[0] + "/" + name
