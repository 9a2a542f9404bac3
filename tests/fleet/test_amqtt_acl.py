"""The embedded amqtt broker with the fleet's credentials and topic ACL
(amqtt_acl.py): the same refusals as the generated mosquitto configuration."""

from __future__ import annotations

import time

import cbor2
import pytest
from sqlalchemy import func, select

from brokers import free_port
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge import topics
from fleet.broker_bridge.amqtt_acl import allowed
from fleet.broker_bridge.bridge import Bridge, BrokerParams
from fleet.broker_bridge.embedded import EmbeddedBroker
from fleet.broker_bridge.simulator import SimDevice
from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, Device, Scan
from fleet.services import control
from fleet_helpers import dev_id, seed_registry, wait_until
from amqtt.contexts import Action

G1, G2 = dev_id(1), dev_id(2)
BRIDGE_PW = "bridge-secret-password"


def test_acl_rules():
    assert allowed(G1, topics.scans(G1), Action.PUBLISH)
    assert not allowed(G1, topics.scans(G2), Action.PUBLISH)
    assert not allowed(G1, topics.REVOCATION, Action.PUBLISH)
    assert not allowed(G1, topics.command(G1), Action.PUBLISH)
    assert allowed(G1, topics.command(G1), Action.SUBSCRIBE)
    assert allowed(G1, topics.REVOCATION, Action.RECEIVE)
    assert not allowed(G1, topics.config(G2), Action.RECEIVE)
    assert not allowed(G1, "gg/v1/dev/+/cmd", Action.SUBSCRIBE)
    assert not allowed(G1, "#", Action.SUBSCRIBE)
    assert not allowed(None, topics.scans(G1), Action.PUBLISH)
    assert allowed(mc.BRIDGE_USER, topics.SCANS_ALL, Action.SUBSCRIBE)
    assert allowed(mc.BRIDGE_USER, "$share/greengate/gg/v1/dev/+/scans", Action.SUBSCRIBE)
    assert not allowed(mc.BRIDGE_USER, "$SYS/#", Action.SUBSCRIBE)
    assert allowed("fleet-bridge-2", topics.shared(topics.SCANS_ALL), Action.SUBSCRIBE)
    assert allowed(G1, f"gg/v1/dev/{G1}/ack", Action.SUBSCRIBE)
    # firmware update offers: a gate reads its own, never another's, never writes one
    assert allowed(G1, topics.ota(G1), Action.SUBSCRIBE)
    assert allowed(G1, topics.ota(G1), Action.RECEIVE)
    assert not allowed(G1, topics.ota(G2), Action.SUBSCRIBE)
    assert not allowed(G1, topics.ota(G1), Action.PUBLISH)
    assert not allowed(G1, f"gg/v1/dev/{G1}/ack", Action.PUBLISH)  # only the fleet acks
    # a gate never joins the fleet's shared subscription, nor reads outside its subtree
    for filt in (topics.shared(topics.SCANS_ALL), topics.shared(topics.command(G1), "x"),
                 topics.shared(topics.TRUST), "gg/v1/#", f"gg/v1/dev/{G1}/#", f"gg/v1/dev/{G1}/+",
                 "+/+/+/+/+", "$SYS/#", topics.scans(G1), f"gg/v1/dev/{G2}/ack"):
        assert not allowed(G1, filt, Action.SUBSCRIBE), filt


@pytest.fixture
def stack(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fleet.db'}")
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        _, pws = seed_registry(db, (G1, G2))
    bridge_hash = mc.password_hash(BRIDGE_PW)

    def lookup(user):
        if user == mc.BRIDGE_USER:
            return bridge_hash
        with sessions() as db:
            return db.scalar(select(Device.mqtt_password_hash).where(
                Device.mqtt_username == user, Device.status == "active"))
    broker = EmbeddedBroker(free_port(), lookup=lookup).start()
    key = load_or_create_fleet_key(tmp_path / "fleet.key", create=True)
    bridge = Bridge(sessions, BrokerParams(port=broker.port, username=mc.BRIDGE_USER, password=BRIDGE_PW),
                    key, client_id=mc.BRIDGE_USER, shared=False, poll_s=0.05).start()
    yield sessions, broker, pws, bridge
    bridge.stop()
    broker.stop()
    engine.dispose()


def test_embedded_broker_enforces_credentials_and_acl(stack):
    sessions, broker, pws, _ = stack
    params = BrokerParams(port=broker.port)
    for password in ("wrong", None):
        bad = SimDevice(G1, params, password=password, client_id="bad")
        bad.connect()
        assert bad.connect_error is not None or not bad.client.is_connected()
        bad.client.loop_stop()
    g1 = SimDevice(G1, params, password=pws[G1]).connect()
    g2 = SimDevice(G2, params, password=pws[G2]).connect()
    try:
        assert g1.connect_error is None
        forged = cbor2.dumps({1: G2, 2: [[1, 1, True, b"\x01" * 16, True, 0]]})
        g1.client.publish(topics.scans(G2), forged, qos=1).wait_for_publish(10)
        g1.client.publish(topics.REVOCATION, b"forged", qos=1, retain=True).wait_for_publish(10)
        g1.publish_scans(0, 5).wait_for_publish(10)

        def count(dev):
            with sessions() as db:
                return db.scalar(select(func.count()).select_from(Scan).where(Scan.device_id == dev))
        wait_until(lambda: count(G1) == 5)
        wait_until(lambda: g1.suback)  # its own control topics, on connect
        sub = g1
        sub.suback.clear()
        sub.client.subscribe([(topics.command(G2), 1), (topics.config(G2), 1), (topics.command(G1), 1)])
        wait_until(lambda: sub.suback)
        assert sub.suback[0][:2] == [0x80, 0x80] and sub.suback[0][2] in (0, 1)
        with sessions() as db:
            control.enqueue_command(db, G2, "reboot")
            control.enqueue_command(db, G1, "sync")
            db.commit()
        wait_until(lambda: g1.messages(topics.command(G1)), timeout=8)
        wait_until(lambda: g2.messages(topics.command(G2)), timeout=8)
        wait_until(lambda: sub.messages(topics.command(G1)))
        wait_until(lambda: g2.messages(topics.config(G2)))  # its own retained config
        time.sleep(0.3)
        assert sub.messages(topics.command(G2)) == [] and sub.messages(topics.config(G2)) == []
        assert all(p != b"forged" for p in g2.messages(topics.REVOCATION))
        assert count(G2) == 0
    finally:
        g1.close()
        g2.close()


def test_embedded_broker_binds_client_id_to_username(stack):
    """Issue 10 finding 3 on the embedded broker: gate 1's credentials with the
    bridge's or gate 2's client id are refused; nobody is kicked."""
    sessions, broker, pws, bridge = stack
    params = BrokerParams(port=broker.port)
    g2 = SimDevice(G2, params, password=pws[G2]).connect()
    drops = []
    g2.client.on_disconnect = lambda *a: drops.append("g2")
    bridge_on_disconnect = bridge.client.on_disconnect
    bridge.client.on_disconnect = lambda *a: (drops.append("bridge"), bridge_on_disconnect(*a))
    try:
        for stolen in (mc.BRIDGE_USER, G2, "fleet-bridge-2"):
            thief = SimDevice(G1, params, password=pws[G1], client_id=stolen)
            thief.connect()
            assert thief.connect_error is not None or not thief.client.is_connected(), stolen
            thief.client.loop_stop()
        g2.publish_scans(0, 7).wait_for_publish(10)

        def count():
            with sessions() as db:
                return db.scalar(select(func.count()).select_from(Scan).where(Scan.device_id == G2))
        wait_until(lambda: count() == 7)
        assert drops == []
        own = SimDevice(G1, params, password=pws[G1]).connect()  # as itself: fine
        assert own.connect_error is None
        own.close()
    finally:
        g2.close()
