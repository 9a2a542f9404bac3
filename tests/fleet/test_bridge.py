"""Broker bridge against the real brokers: Debian's mosquitto and the
embedded amqtt. Ingest, dedupe, retained config, revocation delta, Last Will,
commands (incl. a screenshot PNG)."""

from __future__ import annotations

from dataclasses import dataclass

import cbor2
import pytest
from sqlalchemy import func, select

from brokers import free_port, mosquitto
from fleet.broker_bridge import topics
from fleet.broker_bridge.bridge import Bridge, BrokerParams
from fleet.broker_bridge.embedded import EmbeddedBroker
from fleet.broker_bridge.simulator import SimDevice
from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, CommandReply, ControlOutbox, Device, Scan
from fleet.services import control, revocations
from fleet_helpers import seed_registry, wait_until
from greengate.control import envelope
from greengate.passes import keys as gk


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request, tmp_path):
    if request.param == "mosquitto":
        m = mosquitto(tmp_path / "mq").start()
        yield request.param, BrokerParams(port=m.port)
        m.stop()
    else:
        b = EmbeddedBroker(free_port()).start()
        yield request.param, BrokerParams(port=b.port)
        b.stop()


@pytest.fixture
def sqlite_sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def fleet_key(tmp_path):
    return load_or_create_fleet_key(tmp_path / "fleet.key", create=True)


def start_bridge(kind, params, sessions, key, **kw):
    return Bridge(sessions, params, key, shared=(kind == "mosquitto"), poll_s=0.05, **kw).start()


def count_scans(sessions, device_id=None):
    with sessions() as db:
        q = select(func.count()).select_from(Scan)
        if device_id:
            q = q.where(Scan.device_id == device_id)
        return db.scalar(q)


@dataclass
class Opened:
    kind: int
    version: int
    issued_at: int
    valid_until: int
    scope: list
    body: object


def opened(key, data):
    """Independent check of a published control message: COSE_Sign1 (tag 18,
    EdDSA) verified with `cryptography` against the fleet public key over the
    RFC 9052 Sig_structure, then the payload map read. (cbor2 6 decodes arrays
    inside tags as tuples, which pycose 1.x does not accept.)"""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    obj = cbor2.loads(data)
    assert isinstance(obj, cbor2.CBORTag) and obj.tag == 18
    protected, _unprotected, payload, signature = obj.value
    assert cbor2.loads(protected)[1] == -8
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    Ed25519PublicKey.from_public_bytes(gk.raw_public(key)).verify(signature, tbs)  # raises if bad
    m = cbor2.loads(payload)
    return Opened(m[1], m[2], m[3], m[4], list(m[5]), m[6])


def test_ingest_dedupes_redeliveries(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        site, _ = seed_registry(db, ("gate-1", "gate-2"))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    devs = [SimDevice(d, params, site_id=site.id).connect() for d in ("gate-1", "gate-2")]
    try:
        for d in devs:
            for b in range(10):
                d.publish_scans(b * 20, 20).wait_for_publish(10)
            # the outbox re-sends batches whose PUBACK it missed: same seqs again
            for b in range(3):
                d.publish_scans(b * 20, 20).wait_for_publish(10)
        wait_until(lambda: bridge.stats.messages >= 26)
        assert count_scans(sqlite_sessions) == 400
        assert count_scans(sqlite_sessions, "gate-2") == 200
        assert bridge.stats.inserted == 400 and bridge.stats.duplicates == 120
        with sqlite_sessions() as db:
            assert db.scalar(select(func.count(func.distinct(Scan.seq))).where(Scan.device_id == "gate-1")) == 200
            assert db.scalar(select(Scan.site_id).limit(1)) == site.id
    finally:
        for d in devs:
            d.close()
        bridge.stop()


def test_malformed_and_unknown_device_messages_are_refused_not_fatal(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        site, _ = seed_registry(db, ("gate-1",))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    d = SimDevice("gate-1", params, site_id=site.id).connect()
    try:
        pub = lambda t, p: d.client.publish(t, p, qos=1).wait_for_publish(10)  # noqa: E731
        pub(topics.scans("gate-1"), b"\xff\x00garbage")
        pub(topics.scans("gate-1"), cbor2.dumps({"device": "gate-9", "scans": []}))
        pub(topics.scans("gate-1"), cbor2.dumps({"device": "gate-1", "scans": [{"seq": -1}]}))
        pub(topics.scans("nobody"), cbor2.dumps({"device": "nobody", "scans": []}))
        pub(topics.state("gate-1"), cbor2.dumps([1, 2]))
        d.publish_scans(0, 5).wait_for_publish(10)
        wait_until(lambda: count_scans(sqlite_sessions) == 5)
        wait_until(lambda: bridge.stats.rejected == 5)
    finally:
        d.close()
        bridge.stop()


def test_retained_site_config_and_suspension_reach_a_late_device(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        site, _ = seed_registry(db, ("gate-1",))
        control.enqueue_site_config(db, site)
        db.commit()
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    try:
        wait_until(lambda: bridge.stats.published >= 1)
        d = SimDevice("gate-1", params, site_id=site.id).connect()  # connects after the publish
        cfg = wait_until(lambda: d.messages(topics.site_config(site.id)))
        m = opened(fleet_key, cfg[-1])
        assert m.kind == envelope.KIND_CONFIG and m.scope == [envelope.SCOPE_SITE, str(site.id)]
        assert m.body["suspended"] is False and m.version == 1
        from fleet.services import registry
        from fleet.models import BusinessStatus
        with sqlite_sessions() as db:
            registry.set_business_status(db, registry.get_business(db, "B1"), BusinessStatus.SUSPENDED,
                                         "test", "F0 case 1")
            db.commit()
        wait_until(lambda: opened(fleet_key, d.messages(topics.site_config(site.id))[-1]).body["suspended"])
        def unpublished():
            with sqlite_sessions() as db:
                return db.scalar(select(func.count()).select_from(ControlOutbox)
                                 .where(ControlOutbox.published_at.is_(None)))
        wait_until(lambda: unpublished() == 0)
        d.close()
    finally:
        bridge.stop()


def test_revocation_delta_reaches_devices(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        site, _ = seed_registry(db, ("gate-1",))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    d = SimDevice("gate-1", params, site_id=site.id).connect()
    try:
        with sqlite_sessions() as db:
            revocations.revoke(db, "ab" * 16, "LOST", "test")
            revocations.revoke(db, "cd" * 16, "F0", "test")
            db.commit()
        def latest_delta():
            msgs = d.messages(topics.REVOCATION_DELTA)
            return opened(fleet_key, msgs[-1]) if msgs else None
        m = wait_until(lambda: (x := latest_delta()) and x.version == 2 and x)
        assert m.kind == envelope.KIND_REVOCATION
        assert bytes.fromhex("cd" * 16) in m.body["added"]
        snap = opened(fleet_key, wait_until(lambda: d.messages(topics.REVOCATION_SNAPSHOT))[-1])
        assert snap.body["hashes"] == [bytes.fromhex("ab" * 16)]
    finally:
        d.close()
        bridge.stop()


def test_state_last_will_and_commands(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        site, _ = seed_registry(db, ("gate-1",))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    d = SimDevice("gate-1", params, site_id=site.id).connect()
    try:
        import time
        d.publish_state(firmware="0.3.1", config_version=4, revocation_version=2, outbox_depth=7,
                        clock=int(time.time()) + 500)

        def dev():
            with sqlite_sessions() as db:
                return db.get(Device, "gate-1")
        wait_until(lambda: dev().online)
        got = dev()
        assert (got.firmware, got.config_version, got.revocation_version, got.outbox_depth) == ("0.3.1", 4, 2, 7)
        assert 400 < got.clock_drift_s < 600
        with sqlite_sessions() as db:
            cmd = control.enqueue_command(db, "gate-1", "screenshot")
            cmd_id = cmd.id
            db.commit()
        def reply():
            with sqlite_sessions() as db:
                return db.scalar(select(CommandReply).where(CommandReply.command_id == cmd_id))
        r = wait_until(reply)
        assert r.ok and r.png.startswith(b"\x89PNG")
        signed = d.messages(topics.command("gate-1"))[-1]
        m = opened(fleet_key, signed)
        assert m.kind == envelope.KIND_COMMAND and m.scope == [envelope.SCOPE_DEVICE, "gate-1"]
        # the broker publishes the Last Will when the device vanishes
        d.crash()
        wait_until(lambda: not dev().online, timeout=30)
    finally:
        bridge.stop()
