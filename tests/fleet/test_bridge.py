"""Broker bridge against the real brokers: Debian's mosquitto and the
embedded amqtt. Ingest, dedupe, retained config, revocation manifest + blob
fetch, Last Will, commands (incl. a chunked screenshot PNG)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cbor2
import pytest
from sqlalchemy import func, select

from brokers import free_port, mosquitto
from fleet.broker_bridge import topics
from fleet.broker_bridge.bridge import Bridge, BrokerParams
from fleet.broker_bridge.embedded import EmbeddedBroker
from fleet.broker_bridge.simulator import LAST_WILL, SimDevice
from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, ControlOutbox, Device, Scan
from fleet.services import control, devices as device_svc, revocations
from fleet_helpers import dev_id, seed_registry, wait_until
from greengate.control import envelope
from greengate.control import revocation as ggrev
from greengate.passes import keys as gk

D1, D2 = dev_id(1), dev_id(2)


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
    # amqtt has no $share: one worker subscribes plainly (embedded.py)
    return Bridge(sessions, params, key, shared=(kind == "mosquitto"), poll_s=0.05, **kw).start()


def unpublished(sessions):
    """Outbox rows the bridge has not published (PUBACK) yet."""
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(ControlOutbox)
                         .where(ControlOutbox.published_at.is_(None)))


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
    RFC 9052 Sig_structure, then the payload map read."""
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
        site, _ = seed_registry(db, (D1, D2))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    devs = [SimDevice(d, params).connect() for d in (D1, D2)]
    try:
        for d in devs:
            for b in range(10):
                d.publish_scans(b * 20, 20).wait_for_publish(10)
            # the outbox re-sends batches whose PUBACK it missed: same seqs again
            for b in range(3):
                d.publish_scans(b * 20, 20).wait_for_publish(10)
        wait_until(lambda: bridge.stats.messages >= 26)
        assert count_scans(sqlite_sessions) == 400
        assert count_scans(sqlite_sessions, D2) == 200
        assert bridge.stats.inserted == 400 and bridge.stats.duplicates == 120
        with sqlite_sessions() as db:
            assert db.scalar(select(func.count(func.distinct(Scan.seq))).where(Scan.device_id == D1)) == 200
            assert db.scalar(select(Scan.site_id).limit(1)) == site.id
    finally:
        for d in devs:
            d.close()
        bridge.stop()


def test_malformed_and_unknown_device_messages_are_refused_not_fatal(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        seed_registry(db, (D1,))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    d = SimDevice(D1, params).connect()
    try:
        pub = lambda t, p: d.client.publish(t, p, qos=1).wait_for_publish(10)  # noqa: E731
        good = [1, 1, True, b"\x01" * 16, True, 0]
        pub(topics.scans(D1), b"\xff\x00garbage")
        pub(topics.scans(D1), cbor2.dumps({1: D2, 2: [good]}))                 # another device's id
        pub(topics.scans(D1), cbor2.dumps({1: D1, 2: [[-1, 1, True, None, True, 0]]}))
        pub(topics.scans(D1), cbor2.dumps({1: D1, 2: [good] * 31}))            # > 30 scans
        pub(topics.scans(D1), cbor2.dumps({1: D1, 2: [[1, 1, True, b"\x01", True, 0]]}))
        pub(topics.scans(dev_id(99)), cbor2.dumps({1: dev_id(99), 2: [good]}))  # unknown device
        pub(topics.state(D1), cbor2.dumps([1, 2]))
        pub(topics.reply(D1), cbor2.dumps({1: "x"}))
        pub(topics.fetch(D1), cbor2.dumps({1: b"\x00" * 32, 2: 0, 3: 4}))     # unknown blob
        d.publish_scans(0, 5).wait_for_publish(10)
        wait_until(lambda: count_scans(sqlite_sessions) == 5)
        wait_until(lambda: bridge.stats.rejected == 9)
    finally:
        d.close()
        bridge.stop()


def test_retained_config_and_suspension_reach_a_late_device(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        site, _ = seed_registry(db, (D1,))  # registration queues the gate's configuration
        site_id = site.id
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    try:
        wait_until(lambda: bridge.stats.published >= 1)
        d = SimDevice(D1, params).connect()  # connects after the publish: retained
        cfg = wait_until(lambda: d.messages(topics.config(D1)))
        m = opened(fleet_key, cfg[-1])
        assert m.kind == envelope.KIND_CONFIG and m.scope == [envelope.SCOPE_SITE, str(site_id)]
        assert m.body[1] == str(site_id) and m.body[2] == "B1" and m.body[4] is False
        assert m.body[3] == 25200 and m.body[6] is None and m.body[8][1] == "Cổng"
        assert m.valid_until > m.issued_at
        from fleet.models import BusinessStatus
        from fleet.services import registry
        with sqlite_sessions() as db:
            registry.set_business_status(db, registry.get_business(db, "B1"), BusinessStatus.SUSPENDED,
                                         "test", "F0 case 1")
            db.commit()
        # another gate connecting later gets its own topics only, never D1's retained config
        other = SimDevice(D2, params).connect()
        wait_until(lambda: other.suback)
        time.sleep(0.3)
        assert other.messages(topics.config(D1)) == []
        other.close()
        latest = lambda: opened(fleet_key, d.messages(topics.config(D1))[-1])  # noqa: E731
        wait_until(lambda: latest().body[4] is True)
        assert latest().version > m.version  # a newer version: the gate applies it
        wait_until(lambda: unpublished(sqlite_sessions) == 0)
        d.close()
    finally:
        bridge.stop()


def test_retiring_a_gate_clears_its_retained_config(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    from fleet.services import registry

    with sqlite_sessions() as db:
        seed_registry(db, (D1,))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    try:
        wait_until(lambda: bridge.stats.published >= 1)
        with sqlite_sessions() as db:
            registry.update_device(db, registry.get_device(db, D1), {"status": "retired"}, "test")
            db.commit()
        wait_until(lambda: unpublished(sqlite_sessions) == 0)  # the clear is out
        late = SimDevice(D1, params).connect()  # whoever connects with that id now
        wait_until(lambda: late.suback)
        time.sleep(0.5)
        assert late.messages(topics.config(D1)) == []  # nothing retained any more
        with sqlite_sessions() as db:  # back in service: a fresh signed config
            registry.update_device(db, registry.get_device(db, D1), {"status": "active"}, "test")
            db.commit()
        cfg = wait_until(lambda: late.messages(topics.config(D1)))
        m = opened(fleet_key, cfg[-1])
        assert m.kind == envelope.KIND_CONFIG
        with sqlite_sessions() as db:
            kinds = [r.kind for r in db.scalars(select(ControlOutbox).where(
                ControlOutbox.topic == topics.config(D1)).order_by(ControlOutbox.id))]
            assert kinds[-2:] == ["clear", "config"] and "clear" not in kinds[:-2]
            # the clear does not count as a version the gate should have applied
            assert control.desired_version(db, topics.config(D1)) == m.version
        late.close()
    finally:
        bridge.stop()


def test_revocation_manifest_and_blob_fetch(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        seed_registry(db, (D1,))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    d = SimDevice(D1, params).connect()
    try:
        # on start the bridge publishes an (empty) revocation list: a new gate is never unprovisioned
        first = opened(fleet_key, wait_until(lambda: d.messages(topics.REVOCATION))[-1])
        assert first.kind == envelope.KIND_REVOCATION and first.body[2] is None
        with sqlite_sessions() as db:
            revocations.revoke(db, "ab" * 16, "LOST", "test")
            revocations.revoke(db, "cd" * 16, "F0", "test")
            db.commit()
            last = control.latest_row(db, topics.REVOCATION).id

        def manifest():
            return opened(fleet_key, d.messages(topics.REVOCATION)[-1])
        m = wait_until(lambda: manifest().version == last and manifest())
        assert m.scope == [envelope.SCOPE_FLEET, ""] and m.version > first.version
        snap = d.fetch(m.body[1])
        delta = d.fetch(m.body[2])
        base, added, removed = ggrev.parse_delta(delta)
        revoked = lambda h: ((h in added) or ggrev.contains(snap, h)) and h not in removed  # noqa: E731
        assert revoked(bytes.fromhex("ab" * 16)) and revoked(bytes.fromhex("cd" * 16))
        assert not revoked(bytes.fromhex("ef" * 16))
        assert bridge.stats.chunks >= 2
    finally:
        d.close()
        bridge.stop()


def test_state_last_will_and_commands(broker, sqlite_sessions, fleet_key):
    kind, params = broker
    with sqlite_sessions() as db:
        seed_registry(db, (D1,))
    bridge = start_bridge(kind, params, sqlite_sessions, fleet_key)
    d = SimDevice(D1, params).connect()
    try:
        d.publish_state(firmware="0.3.1", applied={1: 4, 2: 3, 3: 2}, outbox=7,
                        clock=int(time.time()) + 500)

        def dev():
            with sqlite_sessions() as db:
                return db.get(Device, D1)
        wait_until(lambda: dev().online)
        got = dev()
        assert (got.firmware, got.config_version, got.trust_version, got.revocation_version,
                got.outbox_depth) == ("0.3.1", 4, 3, 2, 7)
        assert 400 < got.clock_drift_s < 600
        with sqlite_sessions() as db:
            cmd = control.enqueue_command(db, D1, "screenshot", {"chunk_size": 768})
            cmd_id = cmd.id
            db.commit()

        def screenshot():
            with sqlite_sessions() as db:
                return device_svc.latest_screenshot(db, D1)
        png = wait_until(screenshot)
        assert png.startswith(b"\x89PNG") and len(png) > 768  # several chunks, reassembled
        m = opened(fleet_key, d.messages(topics.command(D1))[-1])
        assert m.kind == envelope.KIND_COMMAND and m.scope == [envelope.SCOPE_DEVICE, D1]
        assert m.version == cmd_id and m.body == {1: 5, 2: {1: 768}}
        assert m.valid_until - m.issued_at == 120
        # the broker publishes the Last Will ({1: false}, retained) when the device vanishes
        d.crash()
        wait_until(lambda: not dev().online, timeout=30)
        assert LAST_WILL == cbor2.dumps({1: False})
    finally:
        bridge.stop()
