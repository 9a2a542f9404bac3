"""The MQTT client, reporter and outbox under real MicroPython against a
real Debian mosquitto: QoS 1 batches, subscriptions, Last Will, TLS, and a
broker that is down while the gate scans."""

from __future__ import annotations

import json
import time

import cbor2
import pytest

from brokers import free_port, mosquitto
from net_helpers import Fleet, MpyProcess, OutageProxy, Subscriber, make_certs, scan_id

T0 = 1631000000


def harness(tmp_path, port, device="gg-0000000000a1", scans=100, **extra) -> MpyProcess:
    cfg = {"dir": str(tmp_path / "outbox"), "counter": str(tmp_path / "counter"),
           "host": "127.0.0.1", "port": port, "device": device, "scans": scans,
           "interval_ms": 1, **extra}
    return MpyProcess("scan_harness.py", cfg, tmp_path)


def check_scan_fields(entry: dict) -> None:
    k = scan_id(entry)
    assert entry["time"] == T0 + k
    assert entry["time_valid"] is (k % 2 == 0)
    assert entry["verdict"] is (k % 3 != 0)
    assert entry["reason"] == (0 if k % 3 else 12)


def test_qos1_batches_reach_subscriber_with_retained_state(mosquitto_broker, tmp_path):
    sub = Fleet(mosquitto_broker.port, ["gg/v1/dev/+/scans", "gg/v1/dev/+/state"])
    h = harness(tmp_path, mosquitto_broker.port, scans=300)
    try:
        done = h.wait_for("drained", timeout=60)
        assert done["acked"] == 300 and done["dropped"] == 0
        assert sub.wait(lambda m: len([1 for t, _, _ in m if t.endswith("/scans")]) >= done["batches"])
        entries = sub.scans()
        assert sorted(e["seq"] for e in entries) == list(range(1, 301))
        for e in entries:
            assert e["device"] == "gg-0000000000a1"
            assert scan_id(e) == e["seq"] - 1
            check_scan_fields(e)
            assert e["sent_at"] == T0 + 10**6
        for topic, payload, _ in sub.snapshot():
            if topic.endswith("/scans"):
                assert len(payload) <= 1024
        states = [cbor2.loads(p) for t, p, _ in sub.snapshot() if t == "gg/v1/dev/gg-0000000000a1/state"]
        # docs/protocol.md 4.2: 1 online, 2 firmware (from the provider),
        # 4 outbox depth, 5 dropped, 14 reporting level 2 (fleet acks).
        assert states and states[0][1] is True and states[0][2] == "test-fw"
        assert states[0][5] == 0 and 0 <= states[0][4] <= 300 and states[0][14] == 2
    finally:
        h.kill()
        sub.close()
    # A new subscriber gets the retained state: online, outbox drained.
    late = Subscriber(mosquitto_broker.port, ["gg/v1/dev/gg-0000000000a1/state"])
    try:
        assert late.wait(lambda m: any(r for _, _, r in m), timeout=10)
        retained = [cbor2.loads(p) for _, p, r in late.snapshot() if r]
        # The harness stopped with DISCONNECT: no will, the last state stays.
        assert retained[-1][1] is True and retained[-1][5] == 0
    finally:
        late.close()


def test_subscription_delivers_qos0_qos1_and_retained(mosquitto_broker, tmp_path):
    import paho.mqtt.publish as publish

    port = mosquitto_broker.port
    publish.single("gg/v1/dev/gg-0000000000a2/ctrl/config", b"\x01retained", qos=1, retain=True,
                   hostname="127.0.0.1", port=port)
    drv = MpyProcess("mqtt_driver.py", {"host": "127.0.0.1", "port": port,
                                        "client_id": "gg-0000000000a2", "keepalive": 5}, tmp_path)
    try:
        drv.wait_for("connected")
        drv.send(op="sub", topic="gg/v1/dev/gg-0000000000a2/ctrl/#", qos=1)
        m = drv.wait_for("message")
        assert m["topic"] == "gg/v1/dev/gg-0000000000a2/ctrl/config"
        assert bytes.fromhex(m["payload"]) == b"\x01retained" and m["retained"] is True
        # QoS 0 and 1; 4 KiB is the cap on a signed control message.
        for qos, size in ((0, 300), (1, 300), (1, 4096)):
            publish.single("gg/v1/dev/gg-0000000000a2/ctrl/cmd", bytes([qos]) * size, qos=qos,
                           hostname="127.0.0.1", port=port)
            m = drv.wait_for("message")
            assert m["topic"] == "gg/v1/dev/gg-0000000000a2/ctrl/cmd"
            assert bytes.fromhex(m["payload"]) == bytes([qos]) * size and m["retained"] is False
        assert drv.call(op="stats")["connects"] == 1
    finally:
        drv.kill()


def test_last_will_published_when_device_is_killed(mosquitto_broker, tmp_path):
    sub = Fleet(mosquitto_broker.port, ["gg/v1/dev/gg-0000000000a3/state", "gg/v1/dev/+/scans"])
    h = harness(tmp_path, mosquitto_broker.port, device="gg-0000000000a3", scans=5,
                exit_when_drained=False, keepalive=5)
    try:
        h.wait_for("drained", timeout=30)
        states = lambda m: [p for t, p, _ in m if t.endswith("/state")]  # noqa: E731
        assert sub.wait(lambda m: any(cbor2.loads(p)[1] is True for p in states(m)))
        h.kill()  # SIGKILL: no DISCONNECT, the broker must publish the will
        # The will is exactly A1 01 F4 = {1: false} (docs/protocol.md 4.2).
        assert sub.wait(lambda m: states(m)[-1] == b"\xa1\x01\xf4", timeout=15)
    finally:
        h.kill()
        sub.close()
    late = Subscriber(mosquitto_broker.port, ["gg/v1/dev/gg-0000000000a3/state"])
    try:
        assert late.wait(lambda m: len(m) > 0)
        topic, payload, retained = late.snapshot()[0]
        assert retained and payload == b"\xa1\x01\xf4"
    finally:
        late.close()


def test_broker_down_for_whole_scanning_period(mosquitto_broker, tmp_path):
    sub = Fleet(mosquitto_broker.port, ["gg/v1/dev/gg-0000000000a4/scans"])
    proxy = OutageProxy(mosquitto_broker.port)  # down: connection refused
    h = harness(tmp_path, proxy.port, device="gg-0000000000a4", scans=250)
    try:
        scanned = h.wait_for("scanned", timeout=60)
        assert scanned["next_seq"] == 251
        assert sub.snapshot() == []
        proxy.up()
        done = h.wait_for("drained", timeout=60)
        assert done["acked"] == 250 and done["dropped"] == 0
        assert sub.wait(lambda m: sorted({e["seq"] for e in sub.scans()}) == list(range(1, 251)))
        assert all(scan_id(e) == e["seq"] - 1 for e in sub.scans())
    finally:
        h.kill()
        proxy.down()
        sub.close()


def test_outages_while_draining_lose_nothing(mosquitto_broker, tmp_path):
    sub = Fleet(mosquitto_broker.port, ["gg/v1/dev/gg-0000000000a7/scans"])
    proxy = OutageProxy(mosquitto_broker.port)
    proxy.up()
    h = harness(tmp_path, proxy.port, device="gg-0000000000a7", scans=600, interval_ms=3)
    try:
        h.wait_for("appended", seq=50)
        for _ in range(4):  # cut every connection mid-drain, then come back
            proxy.down()
            time.sleep(0.3)
            proxy.up()
            time.sleep(0.4)
        done = h.wait_for("drained", timeout=60)
        assert done["acked"] == 600 and done["dropped"] == 0 and done["connects"] >= 3
        # At-least-once: every seq arrives, duplicates only of the same scan.
        assert sub.wait(lambda m: {e["seq"] for e in sub.scans()} == set(range(1, 601)))
        assert all(scan_id(e) == e["seq"] - 1 for e in sub.scans())
    finally:
        h.kill()
        proxy.down()
        sub.close()


@pytest.mark.needs_ssl
def test_tls_with_generated_ca(tmp_path):
    certs = make_certs(tmp_path / "certs")
    tls_port = free_port()
    # (tests/brokers.py keeps a root mosquitto as root: it must read tmp_path)
    broker = mosquitto(tmp_path / "tls-broker", extra_conf=(
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {certs['ca']}\ncertfile {certs['cert']}\nkeyfile {certs['key']}\n"
    )).start()
    try:
        from brokers import wait_port
        wait_port(tls_port)
        sub = Fleet(tls_port, ["gg/v1/dev/gg-0000000000a5/scans"], tls={"ca": certs["ca"]})
        h = harness(tmp_path, tls_port, device="gg-0000000000a5", scans=40,
                    cafile=certs["ca"], server_hostname="localhost")
        try:
            done = h.wait_for("drained", timeout=60)
            assert done["acked"] == 40
            assert sub.wait(lambda m: sorted(e["seq"] for e in sub.scans()) == list(range(1, 41)))
        finally:
            h.kill()
            sub.close()
        # A broker certificate from another CA is refused: nothing is sent.
        other = make_certs(tmp_path / "other-ca")
        drv = MpyProcess("mqtt_driver.py", {
            "host": "127.0.0.1", "port": tls_port, "client_id": "gg-0000000000a6",
            "cafile": other["ca"], "server_hostname": "localhost"}, tmp_path)
        try:
            time.sleep(1.5)
            stats = drv.call(op="stats")
            assert stats["connected"] is False and stats["connects"] == 0
            assert stats["failures"] >= 1 and stats["last_error"]
        finally:
            drv.kill()
    finally:
        broker.stop()
