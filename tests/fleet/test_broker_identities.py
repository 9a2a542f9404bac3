"""Broker identities (issue 10, findings 2 and 3) as attacks with one stolen
gate password, on a real mosquitto started from the generated configuration
and a real database (SQLite and PostgreSQL):

- the gate joins the bridge's shared subscription, or subscribes anything
  outside its own topics: refused in the SUBACK, it receives nothing, and
  the fleet stores every scan (before: granted, and the broker handed the
  gate about half of all scans, which its ACL then dropped);
- the gate connects with the bridge's or another gate's client id: refused,
  nobody is kicked (before: it took over that session);
- accounts follow the registry at run time (account_sync.py) with the same
  identity binding and rights.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import DB_PARAMS, fresh_db_url
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge import topics
from fleet.broker_bridge.account_sync import DynsecControl, MosquittoAccountSync
from fleet.broker_bridge.bridge import Bridge
from fleet.broker_bridge.simulator import SimDevice
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, Device, Scan
from fleet_helpers import dev_id, seed_registry, wait_until
from mosquitto_helpers import Probe, bridge_params, device_filters_outside, start_generated

A, B, C = dev_id(0xA), dev_id(0xB), dev_id(0xC)
REFUSED = 0x80


@pytest.fixture(params=DB_PARAMS)
def fleet(request, tmp_path):
    engine = make_engine(fresh_db_url(request.param, tmp_path))
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        _, pws = seed_registry(db, (A, B))
    broker = start_generated(tmp_path, sessions)
    bridge = Bridge(sessions, bridge_params(broker.port), None, client_id=mc.BRIDGE_USER,
                    shared=True).start()
    yield sessions, broker, bridge, pws
    bridge.stop()
    broker.stop()
    engine.dispose()


def stored(sessions, dev: str) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Scan).where(Scan.device_id == dev))


def online(sessions, dev: str) -> bool:
    with sessions() as db:
        return db.get(Device, dev).online is True


def bridge_listening(sessions, gate: SimDevice) -> None:
    """Re-send seq 0 until it is stored: then the bridge's subscriptions are in
    place (the fleet is idempotent on (device, seq))."""
    def probe() -> bool:
        gate.publish_scans(0, 1).wait_for_publish(10)
        return stored(sessions, gate.device_id) == 1
    wait_until(probe, timeout=30)


def test_gate_cannot_join_the_shared_subscription_or_read_outside_its_topics(fleet):
    sessions, broker, bridge, pws = fleet
    gate_b = SimDevice(B, bridge_params(broker.port), password=pws[B]).connect()
    thief = Probe(broker.port, A, pws[A], A)  # gate A's stolen credentials
    try:
        assert not thief.connected().is_failure
        bridge_listening(sessions, gate_b)
        refused = {f: thief.subscribe(f) for f in device_filters_outside(A, B)}
        assert refused == {f: REFUSED for f in refused}
        # its own topics stay open: the refusal is the rule, not a broken account
        for own in (topics.command(A), topics.config(A), f"gg/v1/dev/{A}/ack", topics.TRUST):
            assert thief.subscribe(own) == 1, own
        for b in range(20):  # 200 scans of gate B: every one reaches the fleet
            gate_b.publish_scans(1 + b * 10, 10).wait_for_publish(10)
        wait_until(lambda: stored(sessions, B) == 201, timeout=60)
        assert [t for t, _ in thief.got if t.endswith("/scans")] == []
        assert {t for t, _ in thief.got} <= {topics.command(A), topics.config(A), topics.TRUST}
    finally:
        thief.close()
        gate_b.close()


@pytest.mark.parametrize("stolen_id", [mc.BRIDGE_USER, B, mc.ACCOUNTS_USER, "fleet-bridge-2", ""])
def test_gate_cannot_take_another_clients_id(fleet, stolen_id):
    sessions, broker, bridge, pws = fleet
    gate_b = SimDevice(B, bridge_params(broker.port), password=pws[B]).connect()
    drops = {"bridge": 0, "b": 0}
    bridge_on_disconnect, gate_on_disconnect = bridge.client.on_disconnect, gate_b.client.on_disconnect

    def count(who, original):  # noqa: ANN001, ANN202
        def on_disconnect(*args):  # noqa: ANN002
            drops[who] += 1
            if original:
                original(*args)
        return on_disconnect
    bridge.client.on_disconnect = count("bridge", bridge_on_disconnect)
    gate_b.client.on_disconnect = count("b", gate_on_disconnect)
    try:
        gate_b.publish_state()
        bridge_listening(sessions, gate_b)
        wait_until(lambda: online(sessions, B))
        thief = Probe(broker.port, A, pws[A], stolen_id)
        rc = thief.connected()
        thief.close()
        assert rc.is_failure, f"gate A connected as {stolen_id!r}"
        # the bridge and gate B never lost their connection: B's scans still flow
        gate_b.publish_scans(1, 30).wait_for_publish(10)
        wait_until(lambda: stored(sessions, B) == 31)
        assert drops == {"bridge": 0, "b": 0}
        assert online(sessions, B)  # no Last Will: B was not kicked
        # A itself may still connect, as itself
        own = Probe(broker.port, A, pws[A], A)
        assert not own.connected().is_failure
        own.close()
    finally:
        gate_b.close()


def test_mqtt5_gate_gets_the_same_refusals(fleet):
    sessions, broker, bridge, pws = fleet
    thief = Probe(broker.port, A, pws[A], A, mqtt5=True)
    try:
        assert not thief.connected().is_failure
        for f in device_filters_outside(A, B)[:6]:
            assert thief.subscribe(f) == 0x87, f  # MQTT 5 "not authorized"
        assert thief.subscribe(topics.command(A)) == 1
    finally:
        thief.close()
    stolen = Probe(broker.port, A, pws[A], mc.BRIDGE_USER, mqtt5=True)
    try:
        assert stolen.connected().is_failure
    finally:
        stolen.close()


def test_accounts_follow_the_registry_with_the_same_rules(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fleet.db'}")
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        site, pws = seed_registry(db, (A,))
    broker = start_generated(tmp_path, sessions)
    pid = tmp_path / "mosquitto.pid"
    pid.write_text(str(broker.proc.pid))
    sync = MosquittoAccountSync(sessions, tmp_path / "broker" / "passwd", pid,
                                control=DynsecControl(bridge_params(broker.port, mc.ACCOUNTS_USER)))
    probes = []
    try:
        assert sync.sync_once() is False  # nothing changed since broker-config
        from fleet.services import registry
        with sessions() as db:
            _, pw_c = registry.register_device(db, C, "00" * 32, site.id, "sim", "test")
            db.commit()
        assert sync.sync_once() is True and sync.reloads == 1

        def connects(user, pw, cid):  # noqa: ANN001, ANN202
            p = Probe(broker.port, user, pw, cid)
            probes.append(p)
            return p if not p.connected().is_failure else None
        new = wait_until(lambda: connects(C, pw_c, C))  # once mosquitto re-read its passwords
        assert new.subscribe(topics.command(C)) == 1
        assert new.subscribe(topics.command(A)) == REFUSED
        assert new.subscribe("$share/greengate/gg/v1/dev/+/scans") == REFUSED
        assert connects(C, pw_c, mc.BRIDGE_USER) is None
        assert connects(C, pw_c, A) is None
        # a retired device loses its identity and its password
        with sessions() as db:
            db.get(Device, A).status = "retired"
            db.commit()
        assert sync.sync_once() is True
        wait_until(lambda: connects(A, pws[A], A) is None)
        # the fleet's own accounts are kept as they were
        text = (tmp_path / "broker" / "passwd").read_text()
        assert all(f"{u}:" in text for u in mc.fleet_users())
    finally:
        for p in probes:
            p.close()
        broker.stop()
        engine.dispose()


def test_bad_device_username_never_becomes_a_wildcard_right():
    for bad in ("gg-+", "gg-#", "gg-aaaaaaaaaaaa/x", "fleet-bridge-1", "GG-AAAAAAAAAAAA"):
        with pytest.raises(ValueError):
            mc.device_role(bad)
        with pytest.raises(ValueError):
            mc.render_passwd([mc.DeviceAccount(bad, "$7$x", None)], {})


def test_gate_cannot_use_the_plugins_control_topic(fleet):
    """The plugin takes commands on $CONTROL: a gate must not grant itself the
    fleet's role (the broker checks the publish before the plugin sees it)."""
    import json

    sessions, broker, bridge, pws = fleet
    thief = Probe(broker.port, A, pws[A], A)
    try:
        assert not thief.connected().is_failure
        assert thief.subscribe(mc.DYNSEC_TOPIC + "/response") == REFUSED
        grab = {"commands": [{"command": "addClientRole", "username": A, "rolename": mc.FLEET_ROLE},
                             {"command": "setDefaultACLAccess", "acls": [
                                 {"acltype": "subscribe", "allow": True}]}]}
        thief.c.publish(mc.DYNSEC_TOPIC, json.dumps(grab), qos=1).wait_for_publish(10)
        # a round trip through the plugin as the real keeper: the thief's command came first
        keeper = DynsecControl(bridge_params(broker.port, mc.ACCOUNTS_USER))
        assert A in keeper.device_clients()
        assert thief.subscribe("gg/v1/#") == REFUSED
        assert thief.subscribe(topics.shared(topics.SCANS_ALL)) == REFUSED
    finally:
        thief.close()
