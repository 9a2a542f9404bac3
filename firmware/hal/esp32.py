# The ESP32 platform: machine.UART / Pin / PWM / WDT, network.WLAN,
# esp32.NVS, ntptime, files on the LittleFS root.
import sys
import time

import machine

_FLASH = "/data"


class Buzzer:
    def __init__(self, gpio):
        self.pwm = machine.PWM(machine.Pin(gpio), freq=2700, duty_u16=0)

    def tone(self, freq):
        if freq:
            self.pwm.freq(freq)
            self.pwm.duty_u16(32768)
        else:
            self.pwm.duty_u16(0)

    def off(self):
        self.pwm.duty_u16(0)


class NVS:
    def __init__(self, namespace="gg"):
        import esp32

        self.nvs = esp32.NVS(namespace)

    def get_int(self, key, default=None):
        try:
            return self.nvs.get_i32(key)
        except OSError:
            return default

    def set_int(self, key, value):
        # NVS ints are signed 32-bit; unix seconds fit until 2038
        self.nvs.set_i32(key, int(value))
        self.nvs.commit()

    def get_blob(self, key, default=None):
        try:
            buf = bytearray(256)
            n = self.nvs.get_blob(key, buf)
            return bytes(buf[:n])
        except OSError:
            return default

    def set_blob(self, key, value):
        self.nvs.set_blob(key, value)
        self.nvs.commit()


class Port:
    name = "esp32"

    def __init__(self):
        import os

        try:
            os.mkdir(_FLASH)
        except OSError:
            pass  # exists
        self._nvs = None
        self.rtc = machine.RTC()

    def flash_dir(self):
        return _FLASH

    def open_scanner(self, cfg, pins):
        uart = machine.UART(
            cfg.get("uart", 1),
            baudrate=cfg.get("fallback_baud", 9600),
            tx=pins["scanner_tx"],
            rx=pins["scanner_rx"],
            rxbuf=2048,
            timeout=0,
            timeout_char=0,
        )

        def set_baud(baud):
            uart.init(baudrate=baud)

        return uart, set_baud

    def open_console(self):
        """The USB serial console for the SETUP service: binary frames, so
        Ctrl-C (0x03) must not interrupt the firmware any more."""
        import micropython

        micropython.kbd_intr(-1)
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
        stdout = getattr(sys.stdout, "buffer", sys.stdout)
        return stdin, stdout.write

    def chip_id(self):
        import binascii

        return binascii.hexlify(machine.unique_id()).decode()

    def pin_out(self, name, gpio, value=0):
        return machine.Pin(gpio, machine.Pin.OUT, value=value)

    def pin_in(self, name, gpio, pull_up=True):
        return machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP if pull_up else None)

    def pwm(self, name, gpio):
        return Buzzer(gpio)

    def display(self, cfg, pins):
        if cfg.get("kind", "ssd1306") == "st7789":
            spi = machine.SPI(2, baudrate=40000000, sck=machine.Pin(pins["spi_sck"]),
                              mosi=machine.Pin(pins["spi_mosi"]))
            return {"spi": spi, "dc": machine.Pin(pins["lcd_dc"], machine.Pin.OUT),
                    "cs": machine.Pin(pins["lcd_cs"], machine.Pin.OUT),
                    "rst": machine.Pin(pins["lcd_rst"], machine.Pin.OUT),
                    "bl": machine.Pin(pins["lcd_bl"], machine.Pin.OUT)}
        i2c = machine.I2C(0, scl=machine.Pin(pins["i2c_scl"]),
                          sda=machine.Pin(pins["i2c_sda"]), freq=400000)
        return {"i2c": i2c}

    def watchdog(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def nvs(self):
        if self._nvs is None:
            self._nvs = NVS()
        return self._nvs

    async def connect_network(self, cfg, timeout_s=20):
        import asyncio
        import network

        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        if wlan.isconnected():
            return True
        ssid = cfg.get("ssid")
        if not ssid:
            return False
        wlan.connect(ssid, cfg.get("password", ""))
        # wrong credentials fail only after ~1 min on ESP32: give up earlier
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < timeout_s * 1000:
            if wlan.isconnected():
                return True
            await asyncio.sleep_ms(250)
        wlan.disconnect()
        return False

    def sync_time(self):
        try:
            import ntptime

            ntptime.settime()
            return True
        except Exception:  # noqa: BLE001 - no network, DNS, timeout: stay untrusted
            return False

    def event(self, kind, fields=None):
        pass

    def log(self, text):
        sys.stdout.write(text + "\n")

    def reset(self):
        machine.reset()
