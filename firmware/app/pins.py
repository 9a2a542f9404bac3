# Default GPIO map (ESP32-WROVER-E, classic ESP32). hardware.md's pin table
# must list exactly these (tests/firmware/test_hardware_pins.py checks it).
# GPIO 16/17 are taken by the WROVER's PSRAM, 6-11 by its flash; 0, 2, 12
# and 15 are boot strapping pins and stay free. 34-39 are input-only with no
# pull resistors: the exit button on 35 has an external 10 kOhm pull-up.
# A device's config.json may override any entry under "pins".
PINS = {
    "scanner_tx": 25,  # ESP32 TX -> scanner RX (UART1)
    "scanner_rx": 26,  # scanner TX -> ESP32 RX
    "i2c_sda": 21,  # SSD1306
    "i2c_scl": 22,
    "spi_sck": 18,  # ST7789
    "spi_mosi": 23,
    "lcd_cs": 5,
    "lcd_dc": 19,
    "lcd_rst": 4,
    "lcd_bl": 32,
    "relay": 33,  # relay module IN (opto input)
    "buzzer": 27,  # PWM
    "led_green": 13,
    "led_red": 14,
    "exit_button": 35,  # to GND when pressed, external pull-up
}

# pins that need the internal pull-up (none: 35 has no pull resistors)
INTERNAL_PULL_UP = ()


def merged(overrides):
    pins = dict(PINS)
    if isinstance(overrides, dict):
        for name in overrides:
            value = overrides[name]
            if name in pins and isinstance(value, int) and 0 <= value <= 48:
                pins[name] = value
    return pins
