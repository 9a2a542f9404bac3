"""app/config.py under MicroPython: fleet_ack_ms (the wait for the fleet's
ack of a scan batch) takes its default when absent, and a value that is not
an integer in 100..120,000 boots with the default and reports the error."""

from __future__ import annotations

import json

from mpy import run_micropython

SCRIPT = r"""
import json, sys
from app import config
cfg = config.load(sys.argv[1])
print(json.dumps([cfg["fleet_ack_ms"], cfg["error"]]))
"""


def load_with(tmp_path, extra: dict | None) -> list:
    flash = tmp_path / "flash"
    flash.mkdir(exist_ok=True)
    (flash / "config.json").write_text(json.dumps({"device_id": "gg-000000000001", **(extra or {})}))
    r = run_micropython(SCRIPT, args=[str(flash)])
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def test_fleet_ack_ms_default_valid_and_invalid(tmp_path):
    assert load_with(tmp_path, None) == [15000, None]
    assert load_with(tmp_path, {"fleet_ack_ms": 100}) == [100, None]
    assert load_with(tmp_path, {"fleet_ack_ms": 120000}) == [120000, None]
    for bad in (99, 120001, 0, -5, "15000", 1.5, True, None, [1], 2**40):
        assert load_with(tmp_path, {"fleet_ack_ms": bad}) == [15000, "invalid fleet_ack_ms"], bad
