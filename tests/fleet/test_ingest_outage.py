"""Issue 10, finding 4: a broker restart must lose no scan. mosquitto 2.0
forgets `$share` subscriptions across a restart yet PUBACKs the gates; with
the end-to-end ack (protocol 4.4) a gate keeps every record until the fleet
has committed it, so: stop the fleet, restart mosquitto, gates send 200
scans, start the fleet: all 200 are stored. The bridge comes back within its
capped backoff after a broker outage, and /healthz fails while the database
is down, then recovers (a private PostgreSQL cluster this test stops)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fleet.api.main import create_app
from fleet.broker_bridge import bridge as bridge_mod
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge.bridge import Bridge, BrokerParams
from fleet.broker_bridge.simulator import SimDevice
from fleet.core.config import Settings
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, Scan
from fleet_helpers import dev_id, seed_registry, wait_until
from ingest_rig import PrivatePostgres, bridge_params, start_generated

GATES = [dev_id(0x400 + i) for i in range(2)]


def stored(sessions) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Scan))


def exactly(sessions, per_gate: dict[str, int]) -> None:
    with sessions() as db:
        got = {d: (n, lo, hi) for d, n, lo, hi in db.execute(
            select(Scan.device_id, func.count(), func.min(Scan.seq), func.max(Scan.seq))
            .group_by(Scan.device_id))}
    assert got == {d: (n, 0, n - 1) for d, n in per_gate.items()}


def test_broker_restart_while_the_fleet_is_down_loses_nothing(tmp_path, session_factory):
    sessions = session_factory
    with sessions() as db:
        _, pws = seed_registry(db, GATES)
    m = start_generated(tmp_path, sessions)
    fleet = Bridge(sessions, bridge_params(m.port), None, publish=False).start()
    gates = [SimDevice(g, BrokerParams(port=m.port), password=pws[g], outbox=True,
                       ack_timeout_s=1.0, ack_timeout_max_s=4.0).connect() for g in GATES]
    try:
        gates[0].add_scans(10)
        wait_until(lambda: gates[0].outbox_depth() == 0)
        fleet.stop()                      # the fleet is down
        m.stop()
        m.start()                         # mosquitto restarted: no fleet subscription left
        wait_until(lambda: all(g.connects >= 2 for g in gates), timeout=30)
        for g in gates:
            g.add_scans(100)              # 200 scans the broker PUBACKs and drops
        wait_until(lambda: all(g.highest_sent == g.last_seq for g in gates))
        assert stored(sessions) == 10
        assert all(g.outbox_depth() == 100 for g in gates)  # PUBACK deleted nothing
        fleet = Bridge(sessions, bridge_params(m.port), None, publish=False).start()
        wait_until(lambda: all(g.outbox_depth() == 0 for g in gates), timeout=60)
        exactly(sessions, {GATES[0]: 110, GATES[1]: 100})
        # a short outage with the fleet running: it reconnects by itself
        # (paho's capped backoff) and re-subscribes; the window's scans arrive
        acks_before = fleet.health.acks
        m.stop()
        wait_until(lambda: not fleet.health.connected)
        for g in gates:
            g.add_scans(50)
        m.start()
        assert fleet.wait_connected(30)
        assert fleet.client._reconnect_max_delay <= bridge_mod.RECONNECT_MAX_S == 5
        wait_until(lambda: all(g.outbox_depth() == 0 for g in gates), timeout=60)
        assert fleet.health.acks > acks_before
        exactly(sessions, {GATES[0]: 160, GATES[1]: 150})
    finally:
        for g in gates:
            g.close()
        fleet.stop()
        m.stop()


@pytest.fixture
def private_pg():
    pg = PrivatePostgres().init()
    pg.start()
    yield pg
    pg.destroy()


def test_healthz_fails_while_the_database_is_down_and_nothing_is_lost(tmp_path, private_pg):
    engine = make_engine(private_pg.url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        _, pws = seed_registry(db, GATES[:1])
    m = start_generated(tmp_path, sessions)
    settings = Settings(demo=True, database_url=private_pg.url, data_dir=tmp_path / "data",
                        admin_password="admin-password-1", argon2_time_cost=1, argon2_memory_kib=1024,
                        metrics_token="scrape-token-for-tests-0123")
    fleet = Bridge(sessions, bridge_params(m.port), None, publish=False).start()
    gate = SimDevice(GATES[0], BrokerParams(port=m.port), password=pws[GATES[0]], outbox=True,
                     ack_timeout_s=1.0, ack_timeout_max_s=4.0).connect()
    try:
        with TestClient(create_app(settings, sessions=sessions),
                        headers={"Authorization": "Bearer scrape-token-for-tests-0123"}) as client:
            gate.add_scans(100)
            wait_until(lambda: gate.outbox_depth() == 0, timeout=30)
            assert client.get("/healthz").json()["ok"] is True
            private_pg.stop()
            gate.add_scans(100)
            wait_until(lambda: fleet.health.problem() is not None, timeout=60)
            # /healthz reads the bridges of this process, not the database
            r = client.get("/healthz")
            assert r.status_code == 503 and r.json()["problem"] == "BRIDGE_DB_FAILING"
            assert gate.outbox_depth() > 0  # kept on the gate, not lost
            private_pg.start()
            wait_until(lambda: gate.outbox_depth() == 0, timeout=60)
            assert client.get("/healthz").status_code == 200
            assert f"greengate_bridge_consecutive_failures{{bridge=\"{mc.BRIDGE_USER}\"}} 0" in \
                client.get("/metrics").text
        exactly(sessions, {GATES[0]: 200})
    finally:
        gate.close()
        fleet.stop()
        m.stop()
        engine.dispose()
