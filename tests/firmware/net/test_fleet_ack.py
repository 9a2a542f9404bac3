"""End-to-end acknowledgement (docs/protocol.md 4.4) under real MicroPython
and a real mosquitto: the gate's outbox drains only on the fleet's ack (a
small paho fleet in the test, net_helpers.Fleet), never on the broker's
PUBACK. With acks withheld the records stay and are sent again after the
ack timeout and after a reconnect; a broker restart between PUBACK and ack
(the broker loses what it had taken) loses nothing."""

from __future__ import annotations


from brokers import Mosquitto, free_port, mosquitto
from net_helpers import Fleet, MpyProcess, OutageProxy, scan_id

DEVICE = "gg-0000000000c1"


def harness(tmp_path, port, scans, **extra) -> MpyProcess:
    cfg = {"dir": str(tmp_path / "outbox"), "counter": str(tmp_path / "counter"),
           "host": "127.0.0.1", "port": port, "device": DEVICE, "scans": scans,
           "interval_ms": 1, "status_ms": 100, "exit_when_drained": False, **extra}
    return MpyProcess("scan_harness.py", cfg, tmp_path)


def seqs_sent(fleet: Fleet) -> list[int]:
    return [e["seq"] for e in fleet.scans()]


def status(h: MpyProcess, timeout: float = 30.0, **match) -> dict:
    """A status line emitted from now on (the harness emits one every
    100 ms) matching `match`."""
    import queue

    while True:
        try:
            h.events.get_nowait()
        except queue.Empty:
            break
    return h.wait_for("status", timeout=timeout, **match)


def test_outbox_drains_only_after_the_fleet_ack(mosquitto_broker, tmp_path):
    fleet = Fleet(mosquitto_broker.port, acking=False)
    h = harness(tmp_path, mosquitto_broker.port, scans=40, fleet_ack_ms=600000)
    try:
        h.wait_for("scanned", timeout=60)
        # the broker took the first batch (PUBACK) and the fleet has it ...
        status(h, batches=1)
        assert fleet.wait(lambda m: fleet.batch_count() == 1)
        first = seqs_sent(fleet)
        assert first == list(range(1, len(first) + 1))
        # ... but without the fleet's ack the outbox keeps every record (and
        # sends nothing more: one batch awaits its ack at a time)
        st = status(h)
        assert st["depth"] == 40 and st["acked"] == 0 and st["batches"] == 1
        assert not [e for e in h.all_events if e.get("ev") == "ack"]
        fleet.acking = True
        fleet.ack(DEVICE, 1, first[-1])
        ev = h.wait_for("ack", timeout=30)
        assert ev["taken"] is True and ev["acked"] == first[-1] and ev["depth"] == 40 - first[-1]
        done = h.wait_for("drained", timeout=60)
        assert done["acked"] == 40 and done["dropped"] == 0
        assert sorted(set(seqs_sent(fleet))) == list(range(1, 41))
        assert all(scan_id(e) == e["seq"] - 1 for e in fleet.scans())
    finally:
        h.kill()
        fleet.close()


def test_withheld_acks_resend_after_timeout_then_drain(mosquitto_broker, tmp_path):
    fleet = Fleet(mosquitto_broker.port, acking=False)
    h = harness(tmp_path, mosquitto_broker.port, scans=10, fleet_ack_ms=300)
    try:
        # the same batch again and again, with a growing wait between sends
        assert fleet.wait(lambda m: fleet.batch_count() >= 4, timeout=60)
        st = status(h)
        assert st["depth"] == 10 and st["acked"] == 0 and st["resends"] >= 3
        assert st["connects"] == 1  # resent on the same connection: the timeout
        assert set(seqs_sent(fleet)) == set(range(1, 11))
        fleet.acking = True  # the fleet is back: the next resend is acked
        done = h.wait_for("drained", timeout=60)
        assert done["acked"] == 10 and done["dropped"] == 0
    finally:
        h.kill()
        fleet.close()


def test_withheld_acks_resend_after_reconnect(mosquitto_broker, tmp_path):
    fleet = Fleet(mosquitto_broker.port, acking=False)
    proxy = OutageProxy(mosquitto_broker.port)
    proxy.up()
    # a 10-minute ack wait: any second send within the test comes from the reconnect
    h = harness(tmp_path, proxy.port, scans=10, fleet_ack_ms=600000, keepalive=2)
    try:
        assert fleet.wait(lambda m: fleet.batch_count() == 1, timeout=60)
        status(h, batches=1)
        for k in (2, 3):
            proxy.down()
            status(h, connected=False)
            proxy.up()
            status(h, connects=k)
            assert fleet.wait(lambda m: fleet.batch_count() >= k, timeout=30)
            assert status(h)["depth"] == 10
        assert status(h)["resends"] == 0
        fleet.acking = True
        proxy.down()
        proxy.up()
        done = h.wait_for("drained", timeout=60)
        assert done["acked"] == 10 and done["dropped"] == 0
    finally:
        h.kill()
        proxy.down()
        fleet.close()


def test_broker_restart_between_puback_and_ack_loses_nothing(tmp_path):
    """mosquitto without persistence forgets every message it PUBACKed when
    it restarts; on PUBACK the old firmware deleted them: lost. Now the gate
    keeps them until the fleet acks, and sends them again on reconnect.
    The gate reaches the broker through a proxy kept down until the fleet
    has subscribed again (a gate back first would publish to no one and
    wait out its ack timeout: correct, but slow for a test)."""
    port = free_port()
    broker = mosquitto(tmp_path / "mosquitto", port=port).start()
    fleet = Fleet(port, acking=False)
    proxy = OutageProxy(port)
    proxy.up()
    h = harness(tmp_path, proxy.port, scans=50, fleet_ack_ms=600000, keepalive=2)
    back = None
    try:
        h.wait_for("scanned", timeout=60)
        status(h, batches=1)  # PUBACKed: the broker had it
        assert fleet.wait(lambda m: fleet.batch_count() == 1)
        proxy.down()
        broker.stop()
        status(h, connected=False)
        fleet.client.loop_stop()
        fleet.messages.clear()  # what the fleet got before was never committed
        fleet.subscribed.clear()
        back = Mosquitto(port=broker.port, conf=broker.conf, log=broker.log).start()
        fleet.acking = True
        fleet.client.loop_start()  # paho reconnects and subscribes again
        assert fleet.subscribed.wait(30)
        proxy.up()
        done = h.wait_for("drained", timeout=90)
        assert done["acked"] == 50 and done["dropped"] == 0
        # everything arrived after the restart and was acked from there
        assert sorted(set(seqs_sent(fleet))) == list(range(1, 51))
        assert all(scan_id(e) == e["seq"] - 1 for e in fleet.scans())
    finally:
        h.kill()
        proxy.down()
        fleet.close()
        (back or broker).stop()
