"""control/link.py under MicroPython: the resident part of the control
plane subscribes the control topics, drops the applied message's exact bytes
(the retained copy at every connect), stray blob chunks and foreign topics
without loading the service, and a service that cannot load (MemoryError
while importing it) is reported in state key 12 and unloaded, not raised
into the MQTT read loop; a message over the MQTT packet cap (dropped unread
by net/mqtt.py) is reported in state key 12 without loading anything. The
loading and unloading itself:
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
    assert out["subs"] == sorted([dev + "cmd", dev + "config", dev + "blob", dev + "ota",
                                  "gg/v1/fleet/trust", "gg/v1/fleet/revocation"])
    assert out["loads_before"] == 0  # re-deliveries, chunks, foreign topics: nothing loaded
    assert out["loads"] == 1
    assert out["svc"] is False and out["service_module"] is False  # unloaded again
    assert out["error"] == [1, 29, 0]  # kind 1, INTERNAL
    assert out["fetch"] is None and out["versions"] == {"1": 1}
    assert len(out["logs"]) == 1 and "cannot load" in out["logs"][0] and "MemoryError" in out["logs"][0]
    assert out["events"] == []  # no session started


def test_messages_wait_while_the_service_cannot_load(tmp_path):
    # a config or command arriving while the heap is too fragmented to load
    # the service is not lost: the newest config and up to 4 commands wait,
    # the load is retried with backoff, and they are handed over in order
    fleet = Fleet(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    v2, v3 = fleet.msg(1, 2, config_body()), fleet.msg(1, 3, config_body())
    r = run_micropython(DRIVERS / "link_driver.py",
                        args=[str(root), DEVICE, SITE, fleet.file(v2), fleet.file(v3), "retry"])
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout.decode().splitlines()[-1])
    assert out["loads"] == 3  # the first try and one failed retry, then loaded
    assert out["waiting_before"] == 5  # config v3 (v2 superseded) + 4 commands
    assert out["dropped"] == 2  # commands 4 and 5: the wait list was full
    assert out["got"] == [[1, v3.hex()]] + [[4, (b"cmd%d" % i).hex()] for i in range(4)]
    assert out["waiting_after"] is None
    assert out["error"] == [1, 29, 0]  # reported while it could not load
    assert len(out["logs"]) == 2  # one failure line for the streak, one when loaded
    assert "cannot load" in out["logs"][0] and "handed over" in out["logs"][1]


def test_message_over_the_packet_cap_is_reported_without_loading(tmp_path):
    # net/mqtt.py drops a PUBLISH over its cap unread and calls the client's
    # oversize_cb: a control topic gives [kind, CTRL_MALFORMED (45), 0] in
    # state key 12 and a state publish; a command also gets its reply
    # (version 0, status 45); the ack topic, a topic too long to keep (None)
    # and another device's topic are logged only
    import cbor2

    fleet = Fleet(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    cfg = fleet.msg(1, 1, config_body())
    r = run_micropython(DRIVERS / "link_driver.py",
                        args=[str(root), DEVICE, SITE, fleet.file(cfg), fleet.file(cfg), "oversize"])
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout.decode().splitlines()[-1])
    dev = f"gg/v1/dev/{DEVICE}/"
    # [topic, key 12 after it, state publishes so far, client publishes so far]
    assert out["steps"] == [
        [dev + "config", [1, 45, 0], 1, 0],
        [dev + "ack", [1, 45, 0], 1, 0],
        [None, [1, 45, 0], 1, 0],
        ["gg/v1/fleet/trust", [2, 45, 0], 2, 0],
        [dev + "cmd", [4, 45, 0], 3, 1],
        [dev + "blob", [0, 45, 0], 4, 1],
        ["gg/v1/dev/gg-ffffffffffff/config", [0, 45, 0], 4, 1],
    ]
    [(topic, payload, qos, retain)] = out["pubs"]
    assert (topic, qos, retain) == (dev + "reply", 1, False)
    assert cbor2.loads(bytes.fromhex(payload)) == {1: 0, 2: 45, 3: "too large"}
    assert out["loads"] == 0 and out["svc"] is False
    assert len(out["logs"]) == 7 and all("over the cap" in line for line in out["logs"])
    assert "5000 bytes" in out["logs"][0] and dev + "config" in out["logs"][0]
