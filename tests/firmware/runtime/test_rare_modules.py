"""Code only boot or a rare command needs is unloaded after use (app.unload,
docs/memory.md): the scanner module's set-up, the screenshot's PNG writer.
Real MicroPython; what still works afterwards is checked too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from greengate.sim.gm65 import FakeGM65
from mpy import MICROPYTHON, mpy_env

HERE = Path(__file__).parent
SETTINGS = {"baud": 115200, "mode": "continuous", "terminator": "cr", "same_code_ms": 1000,
            "timeout_ms": 500, "repeat_ms": 1500, "inter_byte_ms": 60}


def test_scanner_setup_is_unloaded_once_the_module_is_configured(scanner_line):
    fake = FakeGM65(scanner_line.master, baud=9600).start()
    env = mpy_env([HERE])
    env["GG_SCANNER_PTY"] = scanner_line.path
    proc = subprocess.Popen([MICROPYTHON, str(HERE / "driver_scanner_service.py"),
                             json.dumps(SETTINGS), "1500"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY "), proc.stderr.read()
        ready = json.loads(line[6:])
        fake.scan("GG1:AFTER-SETUP")
        out, err = proc.communicate(timeout=30)
    finally:
        fake.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert ready == {"status": "ready", "loaded": []}
    assert fake.baud == 115200 and fake.mode == 2  # the set-up did run
    assert [ln[5:] for ln in out.splitlines() if ln.startswith("CODE ")] == ["GG1:AFTER-SETUP"]


def test_screenshot_drops_the_png_writer_it_loaded():
    env = mpy_env()
    res = subprocess.run([MICROPYTHON, str(HERE / "driver_screenshot.py")], capture_output=True,
                         env=env, timeout=60, cwd=str(HERE))
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out["status"] == 0 and out["png"] and out["size"] > 100
    assert out["before"] is False and out["after"] is False
