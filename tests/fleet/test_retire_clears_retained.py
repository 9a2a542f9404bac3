"""Issue 12: retiring a gate clears its retained messages on the broker
(its signed configuration and its state), published by the bridge with
the fleet's broker account, on a real mosquitto started from the
generated configuration (SQLite and PostgreSQL). The gate's Last Will,
sent when it is cut off after retirement, is cleared again.

"No retained message" is checked without waiting on a clock: a fresh
subscriber subscribes to the gate's topics, then to a topic that does hold
a retained message (the revocation list); the broker sends the retained
messages of each SUBSCRIBE in order on one connection, so once the marker
arrives, anything retained on the gate's topics would have arrived first."""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from conftest import DB_PARAMS, fresh_db_url
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge import topics
from fleet.broker_bridge.bridge import Bridge
from fleet.broker_bridge.simulator import SimDevice
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, ControlOutbox, Device
from fleet.services import registry
from fleet_helpers import dev_id, seed_registry, wait_until
from mosquitto_helpers import BRIDGE_PW, Probe, bridge_params, start_generated

GATE, OTHER = dev_id(0xE1), dev_id(0xE2)


@pytest.fixture(params=DB_PARAMS)
def fleet(request, tmp_path):
    engine = make_engine(fresh_db_url(request.param, tmp_path))
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        _, pws = seed_registry(db, (GATE, OTHER))
    broker = start_generated(tmp_path, sessions)
    bridge = Bridge(sessions, bridge_params(broker.port), Ed25519PrivateKey.generate(),
                    client_id=mc.BRIDGE_USER, shared=True, poll_s=0.05).start()
    yield sessions, broker, pws
    bridge.stop()
    broker.stop()
    engine.dispose()


class Subscriber(Probe):
    """A fresh fleet-account client that reports what is retained on topics."""

    def __init__(self, port: int) -> None:
        user = mc.bridge_users()[2]  # a spare bridge account: client id = username
        super().__init__(port, user, BRIDGE_PW, user)
        self.marker = threading.Event()
        self.c.on_message = self._message

    def _message(self, _c, _u, m) -> None:  # noqa: ANN001
        if m.topic == topics.REVOCATION:
            self.marker.set()
        else:
            self.got.append((m.topic, m.payload))

    def retained(self, names: tuple[str, ...]) -> list[tuple[str, bytes]]:
        assert not self.connected().is_failure
        for t in names:
            assert self.subscribe(t) == 1
        assert self.subscribe(topics.REVOCATION) == 1
        assert self.marker.wait(20), "the revocation list is retained: its message must come"
        return [(t, p) for t, p in self.got if p]  # empty payloads are never stored as retained


def pending(sessions) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(ControlOutbox)
                         .where(ControlOutbox.published_at.is_(None)))


def test_retiring_a_gate_clears_its_retained_messages(fleet):
    sessions, broker, pws = fleet
    port = broker.port
    gate = SimDevice(GATE, bridge_params(port), password=pws[GATE]).connect()
    other = SimDevice(OTHER, bridge_params(port), password=pws[OTHER]).connect()
    try:
        # the fleet published each gate's signed configuration (retained), each
        # gate its retained state: a new subscriber sees both, for both gates
        wait_until(lambda: gate.messages(topics.config(GATE)) and other.messages(topics.config(OTHER)),
                   timeout=30)
        gate.publish_state(firmware="1.0.0")
        other.publish_state(firmware="1.0.0")
        wait_until(lambda: pending(sessions) == 0)
        before = Subscriber(port)
        got = {t for t, _ in before.retained(topics.retained(GATE) + topics.retained(OTHER))}
        assert got == set(topics.retained(GATE) + topics.retained(OTHER))
        before.close()

        with sessions() as db:
            registry.update_device(db, registry.get_device(db, GATE), {"status": "retired"}, "op")
            db.commit()
            clears = db.scalars(select(ControlOutbox.topic).where(ControlOutbox.kind == "clear")).all()
        assert sorted(clears) == sorted(topics.retained(GATE))
        wait_until(lambda: pending(sessions) == 0)
        after = Subscriber(port)
        assert {t for t, _ in after.retained(topics.retained(GATE) + topics.retained(OTHER))} == \
            set(topics.retained(OTHER))  # the gate's are gone, the other gate's stay
        after.close()

        # cut off (its account is removed, or the link drops): the broker sends
        # its Last Will, retained; the bridge sees a retired gate's state and clears it
        gate.crash()

        def will_cleared() -> bool:
            with sessions() as db:
                n = db.scalar(select(func.count()).select_from(ControlOutbox).where(
                    ControlOutbox.kind == "clear", ControlOutbox.topic == topics.state(GATE)))
                # >= 2: a QoS 1 re-delivery of the will clears once more (idempotent)
                return n >= 2 and db.get(Device, GATE).online is False and pending(sessions) == 0
        wait_until(will_cleared, timeout=30)
        last = Subscriber(port)
        assert {t for t, _ in last.retained(topics.retained(GATE))} == set()
        last.close()
    finally:
        other.close()
