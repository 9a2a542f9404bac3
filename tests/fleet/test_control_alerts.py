"""Issue 10 finding 7: every control message a gate refuses (state key 12
[kind, reason, version], protocol 4.2 / 5.1: CTRL_UNSIGNED .. CTRL_SCOPE,
size -> CTRL_MALFORMED, and INTERNAL) raises an alert, grouped per device:
one open alert per (device, kind of problem) whose count and last-seen grow.
States go through the wire decoder the bridge uses (CBOR bytes)."""

from __future__ import annotations

import cbor2
import pytest
from sqlalchemy import select

from fleet.broker_bridge import wire
from fleet.models import Alert
from fleet.services import alerts, devices
from fleet_helpers import dev_id, seed_registry
from greengate.passes import reasons

G1, G2 = dev_id(0xA1), dev_id(0xA2)
CTRL = ["CTRL_UNSIGNED", "CTRL_SIGNATURE", "CTRL_ROLLBACK", "CTRL_REPLAY", "CTRL_EXPIRED",
        "CTRL_MALFORMED", "CTRL_SCOPE"]


def report(db, device_id: str, error) -> None:
    devices.apply_state(db, device_id, wire.decode_state(cbor2.dumps({1: True, 2: "0.3.1",
                                                                       12: error})))
    db.commit()


def open_alerts(db, device_id: str) -> list[Alert]:
    return list(db.scalars(select(Alert).where(Alert.device_id == device_id,
                                               Alert.acknowledged_at.is_(None)).order_by(Alert.id)))


@pytest.mark.parametrize("reason", [*CTRL, "INTERNAL"])
def test_each_refusal_kind_raises_one_grouped_alert(session_factory, reason):
    code = reasons.code(reason)
    kind = "GATE_ERROR" if reason == "INTERNAL" else "CONTROL_REJECTED"
    with session_factory() as db:
        seed_registry(db, (G1, G2))
        report(db, G1, [1, code, 7])
        [a] = [a for a in open_alerts(db, G1) if a.kind == kind]
        assert a.detail == {"reason": reason, "message_kind": "config", "version": 7}
        assert a.count == 1 and a.business_id == "B1" and a.last_seen_at is not None
        first_seen = a.last_seen_at
        # the same refusal in the next state reports (heartbeat, reconnect): not a new one
        for _ in range(3):
            report(db, G1, [1, code, 7])
        # a later message refused the same way: the same alert counts it
        report(db, G1, [3, code, 9])
        [a] = [a for a in open_alerts(db, G1) if a.kind == kind]
        assert a.count == 2 and a.last_seen_at >= first_seen
        assert a.detail == {"reason": reason, "message_kind": "revocation", "version": 9}
        # the gate recovers, then refuses again: counted again
        report(db, G1, None)
        report(db, G1, [3, code, 9])
        assert [a.count for a in open_alerts(db, G1) if a.kind == kind] == [3]
        assert open_alerts(db, G2) == []  # per device


def test_reasons_are_grouped_separately_and_ack_starts_a_new_group(session_factory):
    with session_factory() as db:
        seed_registry(db, (G1,))
        for version, reason in enumerate(["CTRL_ROLLBACK", "CTRL_EXPIRED", "CTRL_ROLLBACK",
                                          "CTRL_SCOPE", "CTRL_EXPIRED", "CTRL_ROLLBACK"], 10):
            report(db, G1, [2, reasons.code(reason), version])
        got = {a.detail["reason"]: a.count for a in open_alerts(db, G1)
               if a.kind == "CONTROL_REJECTED"}
        assert got == {"CTRL_ROLLBACK": 3, "CTRL_EXPIRED": 2, "CTRL_SCOPE": 1}
        rollback = next(a for a in open_alerts(db, G1) if a.detail["reason"] == "CTRL_ROLLBACK")
        alerts.acknowledge(db, rollback.id, "operator")
        db.commit()
        report(db, G1, [2, reasons.code("CTRL_ROLLBACK"), 20])
        rows = db.scalars(select(Alert).where(Alert.kind == "CONTROL_REJECTED")).all()
        assert sorted((a.detail["reason"], a.count, a.acknowledged_at is None) for a in rows) == [
            ("CTRL_EXPIRED", 2, True), ("CTRL_ROLLBACK", 1, True), ("CTRL_ROLLBACK", 3, False),
            ("CTRL_SCOPE", 1, True)]


def test_grouped_alert_in_the_api(api, session_factory):
    from fleet_helpers import register

    site = api.as_("operator").get("/api/v1/sites").json()[0]["id"]
    register(api, "operator", G1, site)
    with session_factory() as db:
        for version in (5, 6, 7):
            report(db, G1, [1, reasons.code("CTRL_ROLLBACK"), version])
    [a] = [a for a in api.as_("operator").get("/api/v1/alerts").json()
           if a["kind"] == "CONTROL_REJECTED"]
    assert a["count"] == 3 and a["last_seen_at"] and a["detail"]["reason"] == "CTRL_ROLLBACK"


def test_refusals_reported_over_mqtt_raise_one_grouped_alert(session_factory, tmp_path):
    """The whole path: a gate's retained state over real mosquitto, the fleet's
    broker bridge, the database: three state reports carrying two distinct
    rollback refusals and one scope refusal -> two open alerts, counts 2 and 1."""
    from brokers import mosquitto

    from fleet.broker_bridge import topics
    from fleet.broker_bridge.bridge import Bridge, BrokerParams
    from fleet.broker_bridge.simulator import SimDevice
    from fleet_helpers import wait_until

    with session_factory() as db:
        seed_registry(db, (G1,))
    broker = mosquitto(tmp_path / "mq").start()
    params = BrokerParams(port=broker.port)
    bridge = Bridge(session_factory, params, None, shared=False, publish=False, poll_s=0.05).start()
    gate = SimDevice(G1, params).connect()
    try:
        rollback, scope = reasons.code("CTRL_ROLLBACK"), reasons.code("CTRL_SCOPE")
        for error in ([1, rollback, 3], [1, rollback, 3], [1, rollback, 4], [2, scope, 8]):
            gate.client.publish(topics.state(G1), cbor2.dumps({1: True, 12: error}), qos=1,
                                retain=True).wait_for_publish(10)

        def grouped():
            with session_factory() as db:
                got = {a.detail["reason"]: a.count for a in open_alerts(db, G1)}
            return got if got == {"CTRL_ROLLBACK": 2, "CTRL_SCOPE": 1} else None

        wait_until(grouped, timeout=30)
    finally:
        gate.close()
        bridge.stop()
        broker.stop()
