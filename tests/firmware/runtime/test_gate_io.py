"""gate.io under MicroPython: relay pulses, buzzer/LED outputs, exit button."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from mpy import MICROPYTHON, mpy_env, run_micropython

DRIVER = Path(__file__).with_name("driver_gateio.py")


def events(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines()]


def test_relay_pulse_extend_and_accept_deny_outputs(tmp_path):
    env = mpy_env()
    ev = tmp_path / "events.jsonl"
    env.update(GG_FLASH_DIR=str(tmp_path / "flash"), GG_EVENT_FILE=str(ev))
    res = subprocess.run([MICROPYTHON, str(DRIVER), "relay"], env=env, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    # requests, extension included; no finished buzzer / LED task kept
    assert json.loads(res.stdout) == {"pulses": 4, "held": [False, False]}
    log = events(ev)
    marks = {e["step"]: e["ms"] for e in log if e["kind"] == "mark"}
    later = [e for e in log if e["ms"] >= marks["accept2"]]
    log = [e for e in log if e["ms"] < marks["accept2"]]
    relay = [e for e in log if e.get("name") == "relay"]
    assert [e["value"] for e in relay] == [0, 1, 0, 1, 0]  # idle, extended pulse, accept pulse
    # the extension holds the door at least 300 ms past the second request
    assert relay[2]["ms"] - marks["extend"] >= 300
    assert relay[4]["ms"] - relay[3]["ms"] >= 150
    after_accept = [e for e in log if e["ms"] >= marks["accept"] and e["ms"] < marks["deny"]]
    assert {"name": "led_green", "value": 1} in [{"name": e.get("name"), "value": e.get("value")} for e in after_accept]
    tones = [e["freq"] for e in log if e["kind"] == "tone"]
    assert tones[:2] == [2700, 0]  # accept: one beep
    assert tones[2:] == [900, 0, 900, 0, 900, 0]  # deny: three
    red = [e for e in log if e.get("name") == "led_red"]
    assert [e["value"] for e in red] == [0, 1, 0]  # idle, deny, cleared
    assert red[2]["ms"] - red[1]["ms"] >= 1900  # lit for its 2 s (sleep_ms never ends early)
    assert all(e["value"] == 0 for e in relay if e["ms"] >= marks["deny"])  # deny never opens
    # a refusal 50 ms into an accept: the accept's beep and LED timer are
    # cancelled without switching off what the refusal turned on
    assert [e["freq"] for e in later if e["kind"] == "tone"] == [2700, 900, 0, 900, 0, 900, 0]
    red = [e for e in later if e.get("name") == "led_red"]
    assert [e["value"] for e in red] == [1, 0]  # deny, cleared (pins log changes only)
    assert red[1]["ms"] - red[0]["ms"] >= 1900
    assert [e["value"] for e in later if e.get("name") == "led_green"] == [1, 0]


def test_exit_button_counts_presses_through_the_pin_file(tmp_path):
    env = mpy_env()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    pin = inputs / "exit_button"
    pin.write_text("1")
    env.update(GG_FLASH_DIR=str(tmp_path / "flash"), GG_INPUT_DIR=str(inputs))
    proc = subprocess.Popen([MICROPYTHON, str(DRIVER), "button", "2500", "3"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    for _ in range(4):
        for v in "010":  # contact bounce at the press
            pin.write_text(v)
        pin.write_text("0")
        time.sleep(0.2)
        pin.write_text("1")
        time.sleep(0.2)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"presses": 4, "inside": 0, "exits": 4}  # never below zero


def test_debounce_logic_on_synthetic_samples():
    samples = [[1, 0]]
    t = 0
    # press with bounce, held 100 ms, release with bounce
    for raw in (0, 1, 0, 1, 0):
        t += 2
        samples.append([raw, t])
    for _ in range(10):
        t += 10
        samples.append([0, t])
    for raw in (1, 0, 1):
        t += 2
        samples.append([raw, t])
    for _ in range(10):
        t += 10
        samples.append([1, t])
    # a 20 ms glitch (shorter than the 50 ms debounce): no press
    for raw in (0, 0, 1):
        t += 10
        samples.append([raw, t])
    for _ in range(10):
        t += 10
        samples.append([1, t])
    res = run_micropython(DRIVER, stdin=json.dumps(samples), args=["debounce"])
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout) == {"presses": 1}
