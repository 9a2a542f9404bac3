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
