"""The whole firmware (firmware/main.py) boots under MicroPython's unix port.

greengate.sim.terminal.SimTerminal runs it the way `greengate sim` does: a
flash directory, the scanner on a pty played by FakeGM65, the display dumped
as PNG, pins/screens/decisions in an event file.
"""

from __future__ import annotations

import time

import pytest
from PIL import Image

from greengate.sim.terminal import SimTerminal


def greengate_reason_name(code: int) -> str:
    from greengate.passes import reasons

    return reasons.name(code)


@pytest.fixture
def sim(tmp_path):
    # nothing listens on port 9: the MQTT client keeps retrying, scanning must not care
    terminal = SimTerminal(tmp_path / "sim", device_id="gg-boot-1", broker="mqtt://127.0.0.1:9")
    terminal.start()
    try:
        yield terminal
    finally:
        terminal.stop()


def kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


def test_boot_configures_scanner_and_shows_idle(sim):
    ev = sim.wait_for(kind("scanner"))
    assert ev["state"] == "ready" and ev["found_baud"] == 9600 and ev["baud"] == 115200
    assert sim.fake.baud == 115200 and sim.fake.mode == 2  # module saved at 115200, continuous
    # not provisioned: the set-up screen (device id for the technician)
    sim.wait_for(kind("screen", screen="setup"))
    img = Image.open(sim.paths.display)
    assert img.size == (128, 64)
    relay = [e["value"] for e in sim.events() if e.get("name") == "relay"]
    assert relay == [0]  # closed at boot, never opened


def test_scan_gives_a_decision_screen_and_outbox_record(sim):
    sim.wait_for(kind("scanner", state="ready"))
    sim.wait_for(kind("screen", screen="setup"))
    idle_png = sim.paths.display.read_bytes()
    n = len(sim.events())
    sim.scan("GG1:NOT-A-VALID-PASS")
    decision = sim.wait_for(kind("decision"), after=n)
    assert decision["verdict"] is False and decision["reason"]
    sim.wait_for(kind("screen", screen="deny"), after=n)
    deadline = time.monotonic() + 5
    while sim.paths.display.read_bytes() == idle_png and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.paths.display.read_bytes() != idle_png  # the deny screen was drawn
    sim.wait_for(kind("pin", name="led_red", value=1), after=n)
    later = sim.events()[n:]
    assert not [e for e in later if e.get("name") == "relay" and e.get("value") == 1]
    assert any(p.suffix == ".seg" and p.stat().st_size > 0 for p in (sim.paths.flash / "outbox").iterdir())
    # the same code again at once is a repeat: no second decision
    sim.scan("GG1:NOT-A-VALID-PASS")
    time.sleep(0.5)
    assert len([e for e in sim.events() if e.get("kind") == "decision"]) == 1


def test_exit_button_counts_through_the_firmware(sim):
    sim.wait_for(kind("scanner"))
    sim.press("exit_button", hold_s=0.5)  # robust to a loaded host (50 ms debounce)
    ev = sim.wait_for(kind("exit"))
    assert ev == {**ev, "inside": 0, "exits": 1}


def test_scan_report_reaches_the_broker(tmp_path, mosquitto_broker):
    import cbor2
    import paho.mqtt.client as mqtt

    got = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="boot-test-sub")
    sub.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    sub.connect("127.0.0.1", mosquitto_broker.port)
    sub.subscribe("gg/v1/dev/gg-boot-2/scans", qos=1)
    sub.subscribe("gg/v1/dev/gg-boot-2/state", qos=1)
    sub.loop_start()
    terminal = SimTerminal(tmp_path / "sim", device_id="gg-boot-2",
                           broker=f"mqtt://127.0.0.1:{mosquitto_broker.port}")
    try:
        terminal.start()
        terminal.wait_for(kind("scanner", state="ready"))
        terminal.scan("GG1:REPORT-ME")
        decision = terminal.wait_for(kind("decision"))
        deadline = time.monotonic() + 20
        while not [t for t, _ in got if t.endswith("/scans")] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        terminal.stop()
        sub.loop_stop()
        sub.disconnect()
    reports = [cbor2.loads(p) for t, p in got if t.endswith("/scans")]
    states = [cbor2.loads(p) for t, p in got if t.endswith("/state")]
    assert reports, "no scan report on the broker"
    batch = reports[0]
    assert batch[1] == "gg-boot-2"  # docs/protocol.md 4.1
    (scan,) = batch[2]
    seq, when, time_valid, pass_hash, verdict, reason = scan
    assert seq == 1 and verdict is False and time_valid is True
    assert abs(when - time.time()) < 60
    assert greengate_reason_name(reason) == decision["reason"]
    assert "REPORT-ME" not in repr(batch)  # reports carry no pass text: hash, verdict, reason
    # device state (4.2): the fields main.py supplies
    online = [st for st in states if st.get(1) is True]
    assert online, "no online device state on the broker"
    state = online[-1]
    assert state[6] is True and state[11] == 0
    assert isinstance(state[2], str) and state[9] >= 0
    assert any(st.get(7) == 115200 for st in online)  # scanner baud once set up


def test_boot_without_scanner_port_keeps_running(tmp_path):
    import json
    import subprocess

    from mpy import FIRMWARE, MICROPYTHON, mpy_env

    env = mpy_env()
    env.pop("GG_SCANNER_PTY", None)
    events = tmp_path / "events.jsonl"
    env.update(GG_FLASH_DIR=str(tmp_path / "flash"), GG_EVENT_FILE=str(events),
               GG_DISPLAY_DUMP=str(tmp_path / "display.png"))
    proc = subprocess.Popen([MICROPYTHON, str(FIRMWARE / "main.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 15
        evs = []
        while time.monotonic() < deadline:
            evs = [json.loads(l) for l in events.read_text().splitlines()] if events.exists() else []
            if any(e["kind"] == "scanner" for e in evs) and any(e["kind"] == "screen" for e in evs):
                break
            time.sleep(0.1)
        time.sleep(1.5)  # past a few supervisor rounds
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    scanner = [e for e in evs if e["kind"] == "scanner"]
    assert scanner and scanner[0]["state"] == "absent"
    assert not [e for e in evs if e["kind"] == "watchdog"]


def test_console_answers_the_provisioning_tool(sim):
    import serial

    from provisioning.device import hello
    from provisioning.link import Link

    sim.wait_for(kind("scanner"))
    port = serial.Serial(sim.console_path, 115200, timeout=0.1)
    try:
        info = hello(Link(port, timeout=3.0))
    finally:
        port.close()
    assert len(info.chip_id) == 12 and info.device_id == "gg-" + info.chip_id
