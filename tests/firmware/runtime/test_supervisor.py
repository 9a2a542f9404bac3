"""app.supervisor under MicroPython: restarts, exception handler, watchdog policy."""

from __future__ import annotations

import json
from pathlib import Path

from mpy import run_micropython

DRIVER = Path(__file__).with_name("driver_supervisor.py")


def scenario(name: str) -> dict:
    res = run_micropython(DRIVER, args=[name], timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


def test_failed_service_is_logged_restarted_and_watchdog_fed():
    out = scenario("restart")
    assert out["runs"]["flaky"] == 2  # failed once, restarted, then runs
    assert out["errors"] >= 1  # the loop's exception handler saw the failure
    assert any("flaky" in l and "stopped" in l for l in out["logs"])
    assert out["status"]["flaky"] == {"alive": True, "restarts": 1}
    assert out["late"] > 0 and out["starving"] is None


def test_stale_service_starves_the_watchdog():
    out = scenario("stale")
    assert out["late"] == 0
    assert out["starving"] == "stale: sleepy"


def test_crash_loop_starves_the_watchdog():
    out = scenario("crashloop")
    assert out["late"] == 0
    assert out["starving"] == "crash loop: broken"
    assert out["status"]["broken"]["restarts"] > 3


def test_soft_watchdog_ends_an_unfed_process(tmp_path):
    import os
    import subprocess

    from mpy import MICROPYTHON, mpy_env

    env = mpy_env()
    env.update(GG_FLASH_DIR=str(tmp_path / "flash"), GG_EVENT_FILE=str(tmp_path / "ev.jsonl"))
    res = subprocess.run([MICROPYTHON, str(DRIVER), "softwdt"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert "FED" in res.stdout and "STILL ALIVE" not in res.stdout
    assert res.returncode != 0
    assert "watchdog: not fed" in res.stderr
    events = [json.loads(l) for l in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events] == ["watchdog"]
    assert os.path.exists(tmp_path / "flash")
