"""hal.clock.Clock under MicroPython: unix seconds, trusted flag, floor kept in NVS."""

from __future__ import annotations

import json
import time

SCRIPT = """
import json, time
from hal import port
from hal.clock import Clock, EPOCH_OFFSET
p = port()
c = Clock(p.nvs())
out = {"offset": EPOCH_OFFSET, "now0": c.now(), "trusted0": c.trusted, "floor0": c.floor}
future = c.raw() + 100000
out["raised"] = c.raise_floor(future)
out["lower"] = c.raise_floor(future - 5)
out["now1"] = c.now()
out["below"] = c.below_floor()
c.mark_synced(p.sync_time())
out["trusted1"] = c.trusted
again = Clock(p.nvs())
out["floor_reloaded"] = again.floor
out["future"] = future
print(json.dumps(out))
"""


def run(tmp_path, **env):
    import subprocess

    from mpy import MICROPYTHON, mpy_env, script_file

    e = mpy_env()
    e.update(GG_FLASH_DIR=str(tmp_path / "flash"), **env)
    res = subprocess.run([MICROPYTHON, script_file(SCRIPT)], env=e, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_unix_seconds_floor_and_persistence(tmp_path):
    before = int(time.time())
    out = run(tmp_path)
    assert out["offset"] == 0  # the unix port counts from 1970 already
    assert before <= out["now0"] <= int(time.time()) + 1
    assert out["trusted0"] is False and out["floor0"] == 0
    assert out["raised"] is True and out["lower"] is False
    assert out["now1"] == out["future"]  # never below the newest signed issue time
    assert out["below"] is True
    assert out["trusted1"] is True
    assert out["floor_reloaded"] == out["future"]  # kept across reboots
    second = run(tmp_path)  # a new boot reads the stored floor
    assert second["floor0"] == out["future"] and second["now0"] == out["future"]
    assert second["trusted0"] is True  # synced before, the RTC kept running


def test_untrusted_host_clock(tmp_path):
    out = run(tmp_path, GG_CLOCK_TRUSTED="0")
    assert out["trusted1"] is False


def test_rtc_that_went_back_or_is_stale_is_not_trusted(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    now = int(time.time())
    for synced in (now + 10**6, now - 4 * 86400):  # clock behind the last sync / sync too old
        (flash / "nvs.json").write_text(json.dumps({"clock_synced": synced}))
        out = run(tmp_path, GG_CLOCK_TRUSTED="0")
        assert out["trusted0"] is False and out["trusted1"] is False
    (flash / "nvs.json").write_text(json.dumps({"clock_synced": now - 3600}))
    out = run(tmp_path, GG_CLOCK_TRUSTED="0")
    assert out["trusted0"] is True and out["trusted1"] is True  # a failed re-sync keeps it
