"""control/link.py under MicroPython: the resident part of the control
plane subscribes the control topics, drops the applied message's exact bytes
(the retained copy at every connect), stray blob chunks and foreign topics
without loading the service, and a service that cannot load (MemoryError
while importing it) is reported in state key 12 and unloaded, not raised
into the MQTT read loop. The loading and unloading itself:
tests/firmware/runtime/test_control_ondemand.py."""

import json

from ctrl_kit import DEVICE, DRIVERS, SITE, T0, Fleet, config_body

from mpy import run_micropython


def test_link_routes_without_loading_and_survives_a_failed_load(tmp_path):
    fleet = Fleet(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    applied = fleet.msg(1, 1, config_body())
    other = fleet.msg(1, 2, config_body())
    r = run_micropython(
        "from control.state import ControlState\n"
        "from control import envelope\n"
        f"st = ControlState({str(root)!r}, {DEVICE!r}, {SITE!r})\n"
        f"data = open({fleet.file(applied)!r}, 'rb').read()\n"
        f"key = open({str(fleet.key_file)!r}, 'rb').read()\n"
        f"assert envelope.open_message(data, 1, [key], st, {T0 + 60}) is not None\n")
    assert r.returncode == 0, r.stderr.decode()

    r = run_micropython(DRIVERS / "link_driver.py",
                        args=[str(root), DEVICE, SITE, fleet.file(applied),
                              fleet.file(other)])
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout.decode().splitlines()[-1])
    dev = f"gg/v1/dev/{DEVICE}/"
    assert out["subs"] == sorted([dev + "cmd", dev + "config", dev + "blob", "gg/v1/fleet/trust",
                                  "gg/v1/fleet/revocation"])
    assert out["loads_before"] == 0  # re-deliveries, chunks, foreign topics: nothing loaded
    assert out["loads"] == 1
    assert out["svc"] is False and out["service_module"] is False  # unloaded again
    assert out["error"] == [1, 29, 0]  # kind 1, INTERNAL
    assert out["fetch"] is None and out["versions"] == {"1": 1}
    assert len(out["logs"]) == 1 and "cannot load" in out["logs"][0] and "MemoryError" in out["logs"][0]
    assert out["events"] == []  # no session started
