"""A retained control message over the gate's MQTT packet cap (only a fleet
account can publish one, or a broker bug) under real MicroPython against a
real mosquitto, with the real outbox, reporter, client and control link.

It used to close the connection right after every CONNACK (the broker sends
it again at each connect), so the fleet's end-to-end scan ack (which arrives
after the batch's PUBACK) never reached the gate: reporting stalled until
the outbox overflowed. Now the gate drops it unread (net/mqtt.py), PUBACKs
it, reports CTRL_MALFORMED in state key 12 and stays connected: one
connection, every scan acked and drained."""

from __future__ import annotations

import cbor2
import paho.mqtt.publish as publish

from net_helpers import Fleet, MpyProcess

DEVICE = "gg-0000000000e1"
DEV = f"gg/v1/dev/{DEVICE}/"
SCANS = 60


def harness(tmp_path, port) -> MpyProcess:
    cfg = {"dir": str(tmp_path / "outbox"), "counter": str(tmp_path / "counter"),
           "control": str(tmp_path / "control"), "host": "127.0.0.1", "port": port,
           "device": DEVICE, "scans": SCANS, "interval_ms": 20, "status_ms": 100,
           "exit_when_drained": False, "keepalive": 10}
    (tmp_path / "control").mkdir()
    return MpyProcess("scan_harness.py", cfg, tmp_path)


def latest(fleet: Fleet, topic: str):
    got = [payload for t, payload, _ in fleet.snapshot() if t == topic]
    return cbor2.loads(got[-1]) if got else None


def test_retained_message_over_the_cap_keeps_the_session_and_scans_drain(
        mosquitto_broker, tmp_path):
    port = mosquitto_broker.port
    # 5 KiB: over the device's 4,352-byte packet cap (net/mqtt.py MAX_PACKET)
    publish.single(DEV + "config", b"\x00" * 5000, qos=1, retain=True,
                   hostname="127.0.0.1", port=port)
    fleet = Fleet(port, topics=["gg/v1/dev/+/scans", DEV + "state", DEV + "reply"])
    h = harness(tmp_path, port)
    try:
        done = h.wait_for("drained", timeout=120)
        # one connection for the whole run: every batch went out and was acked
        # by the fleet on it, while the retained message stayed on the broker
        assert done["connects"] == 1, done
        assert done["acked"] == SCANS and done["dropped"] == 0, done
        seqs = sorted({e["seq"] for e in fleet.scans()})
        assert seqs == list(range(1, SCANS + 1))
        acks = [e for e in h.all_events if e.get("ev") == "ack"]
        assert acks and all(a["taken"] and a["connects"] == 1 for a in acks)
        # dropped once (PUBACKed: not sent again on this session, one log
        # line below) and reported
        st = h.wait_for("status")
        assert (st["connects"], st["failures"]) == (1, 0), st
        assert st["control_error"] == [1, 45, 0]  # kind 1 (config), CTRL_MALFORMED
        # the retained state says so, also once the outbox has drained (that
        # state goes out at most every 10 s)
        assert fleet.wait(lambda m: (latest(fleet, DEV + "state") or {}).get(12) == [1, 45, 0]
                          and latest(fleet, DEV + "state")[4] == 0, timeout=60)
        state = latest(fleet, DEV + "state")
        assert state[1] is True and state[14] == 2
        size = 2 + len(DEV + "config") + 2 + 5000  # remaining length: topic, packet id
        assert [e["line"] for e in h.all_events if e.get("ev") == "log"] == [
            f"MQTT message of {size} bytes over the cap dropped: {DEV}config"]

        # a command over the cap while connected: dropped, answered (version 0,
        # CTRL_MALFORMED), still the same connection
        publish.single(DEV + "cmd", b"\x01" * 9000, qos=1, hostname="127.0.0.1", port=port)
        assert fleet.wait(lambda m: latest(fleet, DEV + "reply") is not None)
        assert latest(fleet, DEV + "reply") == {1: 0, 2: 45, 3: "too large"}
        st = h.wait_for("status", control_error=[4, 45, 0], timeout=30)
        assert st["connects"] == 1 and st["connected"] is True
        logs = [e["line"] for e in h.all_events if e.get("ev") == "log"]
        assert len(logs) == 2 and logs[1].endswith(f"dropped: {DEV}cmd"), logs
    finally:
        h.kill()
        fleet.close()
