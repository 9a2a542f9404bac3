"""Scanner driver under real MicroPython against the byte-exact fake GM65.

The firmware side (scanner.setup / link / reader / framer through hal.unix)
runs in micropython on a pty slave; greengate.sim.gm65.FakeGM65 plays the
module on the master.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path


from greengate.sim.gm65 import ACK, FakeGM65
from mpy import MICROPYTHON, mpy_env

DRIVER = Path(__file__).with_name("driver_scanner.py")
H = bytes.fromhex

# Host -> module frames for: target 115200, continuous mode, CR terminator,
# same-code interval 1000 ms; module found at 9600 with settings 0x54.
QUERY_BAUD = H("7e 00 07 01 00 2a 02 d8 0f")  # verbatim from the GM65 manual
READ_SETTINGS = H("7e 00 07 01 00 00 01 01 41")
WRITE_MODE_CONTINUOUS = H("7e 00 08 01 00 00 56 4e aa")  # 0x54 -> bits 1-0 = 10
READ_TAIL = H("7e 00 07 01 00 60 01 0a 6b")
WRITE_TAIL_CR = H("7e 00 08 01 00 60 00 7f b3")
WRITE_SAME_CODE_1S = H("7e 00 08 01 00 13 8a 12 7b")  # enable | 10 x 100 ms
WRITE_BAUD_115200 = H("7e 00 08 02 00 2a 1a 00 e4 7e")
SAVE = H("7e 00 09 01 00 00 00 de c8")  # verbatim from the GM65 manual

SETTINGS = {"baud": 115200, "mode": "continuous", "terminator": "cr", "same_code_ms": 1000,
            "timeout_ms": 500, "repeat_ms": 1500, "inter_byte_ms": 60}


class Run:
    """One micropython driver process; lines collected as they come."""

    def __init__(self, line, opts, listen_ms):
        env = mpy_env([DRIVER.parent])
        env["GG_SCANNER_PTY"] = line.path
        self.proc = subprocess.Popen(
            [MICROPYTHON, str(DRIVER), "setup", json.dumps(opts), str(listen_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        )

    def until(self, prefix, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        raise AssertionError(f"no {prefix!r} line; stderr: {self.proc.stderr.read()}")

    def finish(self):
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        codes = [l[5:] for l in out.splitlines() if l.startswith("CODE ")]
        stats = [json.loads(l[6:]) for l in out.splitlines() if l.startswith("STATS ")]
        return codes, stats[0]


def test_module_at_9600_is_found_configured_and_switched(scanner_line):
    fake = FakeGM65(scanner_line.master, baud=9600).start()
    try:
        run = Run(scanner_line, SETTINGS, listen_ms=1500)
        state = json.loads(run.until("STATE "))
        run.until("LISTENING")
        fake.scan("GG1:HELLO-115200")
        codes, stats = run.finish()
    finally:
        fake.stop()
    assert fake.received == [
        QUERY_BAUD,  # the probe at 115200 went unheard (fake.ignored)
        READ_SETTINGS, WRITE_MODE_CONTINUOUS,
        READ_TAIL, WRITE_TAIL_CR,
        WRITE_SAME_CODE_1S,
        WRITE_BAUD_115200,
        QUERY_BAUD,  # verified at the new speed
        SAVE,
    ]
    assert fake.sent == [
        H("02 00 00 02 39 01 c1 4c"), H("02 00 00 01 54 29 40"), ACK,
        H("02 00 00 01 00 33 31"), ACK, ACK, ACK,
        H("02 00 00 02 1a 00 82 d8"), ACK,
    ]
    assert fake.ignored > 0
    assert fake.baud == 115200 and fake.flash[0x2A] == 0x1A and fake.mode == 2
    assert state["responsive"] and state["configured"] and state["saved"]
    assert state["found_baud"] == 9600 and state["baud"] == 115200
    assert all(ok for _, ok in state["steps"])
    assert codes == ["GG1:HELLO-115200"]
    assert stats["codes"] == 1


def test_module_already_at_target_needs_no_baud_change(scanner_line):
    fake = FakeGM65(scanner_line.master, baud=115200).start()
    try:
        run = Run(scanner_line, SETTINGS, listen_ms=200)
        state = json.loads(run.until("STATE "))
        run.finish()
    finally:
        fake.stop()
    assert fake.received == [QUERY_BAUD, READ_SETTINGS, WRITE_MODE_CONTINUOUS, READ_TAIL,
                             WRITE_TAIL_CR, WRITE_SAME_CODE_1S, SAVE]
    assert fake.ignored == 0
    assert state["found_baud"] == 115200 and state["configured"]


def test_silent_module_falls_back_and_still_scans(scanner_line):
    fake = FakeGM65(scanner_line.master, baud=9600, responsive=False).start()
    try:
        run = Run(scanner_line, dict(SETTINGS, fallback_baud=9600), listen_ms=1500)
        state = json.loads(run.until("STATE "))
        run.until("LISTENING")
        fake.scan("GG1:STILL-WORKS")
        codes, _ = run.finish()
    finally:
        fake.stop()
    assert state["responsive"] is False and state["configured"] is False
    assert state["error"] == "no_answer" and state["baud"] == 9600
    # it heard the probes at 9600, answered none, and nothing was written
    assert fake.received and all(f == QUERY_BAUD for f in fake.received)
    assert fake.sent == []
    assert codes == ["GG1:STILL-WORKS"]


def test_codes_at_wrong_speed_are_noise_not_codes(scanner_line):
    # module answers nothing and sits at 57600 while we fall back to 9600
    fake = FakeGM65(scanner_line.master, baud=57600, responsive=False).start()
    try:
        run = Run(scanner_line, dict(SETTINGS, fallback_baud=9600), listen_ms=1200)
        json.loads(run.until("STATE "))
        run.until("LISTENING")
        fake.scan("GG1:GARBLED")
        codes, stats = run.finish()
    finally:
        fake.stop()
    assert codes == []
    assert stats["noise"] + stats["noise_bytes"] > 0


def test_repeat_and_framing_over_the_wire(scanner_line):
    fake = FakeGM65(scanner_line.master, baud=115200).start()
    try:
        run = Run(scanner_line, SETTINGS, listen_ms=3000)
        run.until("STATE ")
        run.until("LISTENING")
        fake.scan("GG1:AAA")
        fake.scan("GG1:AAA")  # same code at once: suppressed
        fake.write_raw(b"\x00\xff")  # line noise between codes, then a pause
        time.sleep(0.5)
        fake.scan("GG1:BBB")
        fake.write_raw(b"GG1:NO-TERMINATOR")  # ends by inter-byte timeout
        time.sleep(0.5)
        fake.write_raw(b"GG1:X\x01Y\r")  # control byte inside: rejected
        fake.write_raw(b"A" * 1500 + b"\r")  # over the cap: rejected, merged with the one before
        fake.scan("GG1:CCC")
        codes, stats = run.finish()
    finally:
        fake.stop()
    assert codes == ["GG1:AAA", "GG1:BBB", "GG1:NO-TERMINATOR", "GG1:CCC"]
    assert stats["repeats"] == 2  # the held code and the second rejected line
    assert stats["rejects"] == 1
    assert stats["noise_bytes"] == 2
    assert stats["noise"] == 1
    assert stats["oversize"] == 1
    assert stats["timeouts"] == 1


def test_bytes_waiting_after_a_stall_are_not_a_pause(scanner_line):
    """The gate's loop stalls (on the ESP32 a DCC signature check takes
    ~300 ms) while a code is half read and its rest arrives: the rest waits
    in the port, so the inter-byte timeout must not end the line there."""
    import os

    env = mpy_env([DRIVER.parent])
    env["GG_SCANNER_PTY"] = scanner_line.path
    proc = subprocess.Popen([MICROPYTHON, str(DRIVER), "stall", json.dumps({"inter_byte_ms": 60})],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == "LISTENING"
        os.write(scanner_line.master, b"GG1:FIRST-HALF-")
        assert proc.stdout.readline().strip() == "PENDING"
        os.write(scanner_line.master, b"SECOND-HALF\r")  # arrives during the stall
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = dict(l.split(" ", 1) for l in out.splitlines() if " " in l)
    assert json.loads(lines["CODES"]) == ["GG1:FIRST-HALF-SECOND-HALF"], out
    assert json.loads(lines["STATS"])["timeouts"] == 0


FRAMER = r"""
import sys
from scanner.framer import Framer
codes = []
f = Framer(codes.append)  # the default cap, as config.json's scanner.max_len
for n in [int(a) for a in sys.argv[1:]]:
    line = b"HC1:" + b"6" * (n - 4) + b"\r"
    f.feed(line, len(line), 0)
print(f.cap, [len(c) for c in codes], f.oversize)
"""


def test_the_longest_real_dcc_fits_the_default_line():
    # An EU DCC from an RSA-4096 signer is ~1,190 characters (2 texts of the
    # EU corpus are over 1,024 too); the line buffer holds 1,280, one more
    # is dropped whole (oversize) and rejected.
    from mpy import run_micropython

    r = run_micropython(FRAMER, args=["1190", "1280", "1281"])
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().split() == ["1280", "[1190,", "1280]", "1"]


def test_config_default_line_length_holds_a_dcc():
    from mpy import run_micropython

    r = run_micropython("from app import config\nprint(config.DEFAULTS['scanner']['max_len'])\n")
    assert r.returncode == 0, r.stderr.decode()
    assert int(r.stdout) >= 1190
