# The unix-port platform (simulator and tests). Environment:
#   GG_FLASH_DIR     the device's flash (default ./flash)
#   GG_SCANNER_PTY   the scanner's serial line (a pty slave path)
#   GG_EVENT_FILE    JSON-lines file of observable events (pins, screens, ...)
#   GG_INPUT_DIR     input pins: file <dir>/<name> holding "0" or "1"
#   GG_DISPLAY_DUMP  where the display driver writes its picture
#   GG_CLOCK_TRUSTED "0" makes the host clock count as not synced
#   GG_CONSOLE_PTY   the "USB console" for the SETUP service (a pty slave path)
#   GG_CHIP_ID       the chip id (hex); default: random, kept in nvs.json
import json
import os
import sys
import time
import _thread

import termios

from fsutil import makedirs

# Linux termios speed codes (MicroPython's termios lacks some names)
_SPEEDS = {
    9600: 13,
    19200: 14,
    38400: 15,
    57600: 0o10001,
    115200: 0o10002,
    230400: 0o10003,
}
_VTIME = 5
_VMIN = 6


def _env(name, default=None):
    value = os.getenv(name)
    return value if value else default


class EventLog:
    def __init__(self, path):
        self.path = path
        self.f = open(path, "a") if path else None

    def write(self, kind, fields):
        if self.f is None:
            return
        rec = {"t": time.time(), "ms": time.ticks_ms(), "kind": kind}
        if fields:
            for k in fields:
                rec[k] = fields[k]
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()


class FakePin:
    """An output pin that records each change of level as an event."""

    def __init__(self, events, name, gpio, value=0):
        self.events = events
        self.name = name
        self.gpio = gpio
        self._v = None
        self.value(value)

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:
            self._v = v
            self.events.write("pin", {"name": self.name, "gpio": self.gpio, "value": v})
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class FakeInput:
    """An input pin read from a file (tests and the simulator press buttons)."""

    def __init__(self, path, idle):
        self.path = path
        self.idle = idle

    def value(self):
        try:
            with open(self.path) as f:
                text = f.read(1)
        except OSError:
            return self.idle
        if text == "0":
            return 0
        if text == "1":
            return 1
        return self.idle


class FakeBuzzer:
    def __init__(self, events, name, gpio):
        self.events = events
        self.name = name
        self.gpio = gpio
        self.freq = 0

    def tone(self, freq):
        if freq != self.freq:
            self.freq = freq
            self.events.write("tone", {"name": self.name, "freq": freq})

    def off(self):
        self.tone(0)


class SoftWatchdog:
    """machine.WDT stand-in: a thread that ends the process if not fed."""

    def __init__(self, timeout_ms, events):
        self.timeout_ms = timeout_ms
        self.events = events
        self.fed = time.ticks_ms()
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self.fed = time.ticks_ms()

    def _watch(self):
        while True:
            time.sleep_ms(100)
            if time.ticks_diff(time.ticks_ms(), self.fed) > self.timeout_ms:
                sys.stderr.write("watchdog: not fed for %d ms, resetting\n" % self.timeout_ms)
                self.events.write("watchdog", {"timeout_ms": self.timeout_ms})
                # a thread can't end the process itself: the shell's parent is us
                os.system("kill -TERM $PPID")
                return


class FileNVS:
    """esp32.NVS stand-in: a JSON file in the flash directory."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path) as f:
                self.data = json.load(f)
        except (OSError, ValueError):
            self.data = {}

    def get_int(self, key, default=None):
        v = self.data.get(key)
        return v if isinstance(v, int) else default

    def set_int(self, key, value):
        self.data[key] = int(value)
        self._commit()

    def get_blob(self, key, default=None):
        v = self.data.get(key)
        if v is None:
            return default
        import binascii

        return binascii.a2b_base64(v)

    def set_blob(self, key, value):
        import binascii

        self.data[key] = binascii.b2a_base64(value).decode().strip()
        self._commit()

    def _commit(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.rename(tmp, self.path)


class Port:
    name = "unix"

    def __init__(self):
        self._flash = _env("GG_FLASH_DIR", "flash")
        makedirs(self._flash)
        self.events = EventLog(_env("GG_EVENT_FILE"))
        self.input_dir = _env("GG_INPUT_DIR", self._flash + "/inputs")
        self._nvs = None

    def flash_dir(self):
        return self._flash

    def _open_tty(self, path):
        port = open(path, "r+b")
        fd = port.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        # VMIN=0, VTIME=0: a read returns what is there (maybe nothing) at
        # once, so reads never block the event loop
        attrs[6][_VMIN] = 0
        attrs[6][_VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        return port

    def open_console(self):
        """(stream for asyncio.StreamReader, write(bytes)) of the console."""
        path = _env("GG_CONSOLE_PTY")
        if not path:
            raise OSError("no console pty (GG_CONSOLE_PTY)")
        port = self._open_tty(path)
        return port, port.write

    def chip_id(self):
        cid = _env("GG_CHIP_ID")
        if cid:
            return cid.lower()
        import binascii

        nvs = self.nvs()
        raw = nvs.get_blob("chip_id")
        if not raw:
            raw = os.urandom(6)
            nvs.set_blob("chip_id", raw)
        return binascii.hexlify(raw).decode()

    def open_scanner(self, cfg, pins):
        path = _env("GG_SCANNER_PTY", cfg.get("pty"))
        if not path:
            raise OSError("no scanner pty (GG_SCANNER_PTY)")
        port = self._open_tty(path)
        fd = port.fileno()

        def set_baud(baud):
            speed = _SPEEDS.get(baud)
            if speed is None:
                raise ValueError("baud")
            a = termios.tcgetattr(fd)
            a[4] = speed
            a[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, a)

        return port, set_baud

    def pin_out(self, name, gpio, value=0):
        return FakePin(self.events, name, gpio, value)

    def pin_in(self, name, gpio, pull_up=True):
        return FakeInput(self.input_dir + "/" + name, 1 if pull_up else 0)

    def pwm(self, name, gpio):
        return FakeBuzzer(self.events, name, gpio)

    def display(self, cfg, pins):
        # the display package owns the framebuffer dump; we only say where
        return {"dump": _env("GG_DISPLAY_DUMP", self._flash + "/display.png"),
                "events": self.events}

    def watchdog(self, timeout_ms):
        return SoftWatchdog(timeout_ms, self.events)

    def nvs(self):
        if self._nvs is None:
            self._nvs = FileNVS(self._flash + "/nvs.json")
        return self._nvs

    async def connect_network(self, cfg, timeout_s=20):
        return True  # the host is online; MQTT failures are the client's business

    def sync_time(self):
        return _env("GG_CLOCK_TRUSTED", "1") != "0"

    def event(self, kind, fields=None):
        self.events.write(kind, fields)

    def log(self, text):
        sys.stderr.write(text + "\n")

    def reset(self):
        sys.exit(3)
