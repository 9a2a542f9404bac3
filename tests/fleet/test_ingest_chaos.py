"""Issue 10 chaos test: 4 simulated gates (reporting protocol 2) send 20,000
scans through the generated mosquitto configuration into a private
PostgreSQL cluster while a script kill -9s and restarts the bridge process,
restarts mosquitto gracefully and with kill -9, and stops PostgreSQL for
10 s. Afterwards every scan is stored exactly once (per (device, seq): none
missing, none duplicated) and every gate's outbox is empty. The SQLite
variant runs the same schedule without the database stop."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from sqlalchemy import func, select

from fleet.broker_bridge.simulator import SimDevice
from fleet.broker_bridge.bridge import BrokerParams
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, DeadLetter, Scan
from fleet_helpers import dev_id, seed_registry, wait_until
from ingest_rig import PrivatePostgres, bridge_process, kill_broker, start_generated

GATES = [dev_id(0xC0 + i) for i in range(4)]
PER_GATE = 5000
CHUNK = 10


def produce(gates: list[SimDevice], stop: threading.Event) -> None:
    """Scans at a steady pace (~800/s in all), so the faults land mid-stream."""
    for _ in range(PER_GATE // CHUNK):
        if stop.is_set():
            return
        for g in gates:
            g.add_scans(CHUNK)
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("db", ["pg", "sqlite"])
def test_chaos_every_scan_exactly_once(tmp_path, db):
    pg = PrivatePostgres().init() if db == "pg" else None
    url = pg.url if pg else f"sqlite:///{tmp_path / 'fleet.db'}"
    if pg:
        pg.start()
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        _, pws = seed_registry(db, GATES)
    m = start_generated(tmp_path, sessions)
    log = (tmp_path / "bridge.log").open("w")
    bridge = bridge_process(url, m.port, log)
    gates = [SimDevice(g, BrokerParams(port=m.port), password=pws[g], outbox=True,
                       ack_timeout_s=2.0, ack_timeout_max_s=8.0).connect() for g in GATES]
    stop = threading.Event()
    producer = threading.Thread(target=produce, args=(gates, stop), daemon=True)

    def stored() -> int:
        with sessions() as db:
            return db.scalar(select(func.count()).select_from(Scan))

    def progress() -> None:  # the stream moves again before the next fault
        before = stored()
        wait_until(lambda: stored() > before, timeout=90, step=0.2)

    try:
        producer.start()
        progress()
        bridge.send_signal(signal.SIGKILL)       # 1. bridge kill -9, restart
        bridge.wait()
        bridge = bridge_process(url, m.port, log, wait_ready=False)
        progress()
        m.stop()                                 # 2. mosquitto graceful restart
        m.start()
        progress()
        kill_broker(m)                           # 3. mosquitto kill -9, restart
        m.start()
        progress()
        if pg:
            pg.stop()                            # 4. PostgreSQL away for 10 s
            time.sleep(10)
            pg.start()
            progress()
        bridge.send_signal(signal.SIGKILL)       # 5. bridge kill -9 again
        bridge.wait()
        bridge = bridge_process(url, m.port, log, wait_ready=False)
        producer.join(120)
        assert not producer.is_alive()
        wait_until(lambda: all(g.outbox_depth() == 0 for g in gates), timeout=240, step=0.2)
        with sessions() as db:
            per = {d: (n, lo, hi, k) for d, n, lo, hi, k in db.execute(
                select(Scan.device_id, func.count(), func.min(Scan.seq), func.max(Scan.seq),
                       func.count(func.distinct(Scan.seq))).group_by(Scan.device_id))}
            assert db.scalar(select(func.count()).select_from(DeadLetter)) == 0
        assert per == {g: (PER_GATE, 0, PER_GATE - 1, PER_GATE) for g in GATES}
        assert all(g.last_seq == PER_GATE - 1 and g.acked == PER_GATE - 1 for g in gates)
        # the faults did hit: two broker restarts seen by every gate, the
        # database outage seen by the bridge (it retried, it did not crash)
        assert all(g.connects >= 3 for g in gates)
        log.flush()
        assert pg is None or "ingest.retry" in (tmp_path / "bridge.log").read_text()
    finally:
        stop.set()
        for g in gates:
            g.close()
        if bridge.poll() is None:
            bridge.send_signal(signal.SIGTERM)
            bridge.wait(10)
        log.close()
        m.stop()
        engine.dispose()
        if pg:
            pg.destroy()
