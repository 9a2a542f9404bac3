"""bench/gen_fleet_db.py, the fleet the benches and the Chromium tests run on
(test_chromium_10m.py builds 10,000,000 scans with it): on PostgreSQL the
scans are made by PostgreSQL itself, on SQLite by Python; both must give the
same shape: each scan at the gate gate_of() names with a gap-free sequence,
ids in receive order, known pass hashes, placed sites, the scan table's
indexes and unique constraint back after the load, and a rollup equal to a
recount (fleet rollup --check)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Scan
from fleet.services import rollup

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import gen_fleet_db  # noqa: E402

NOW = int(time.time())


def test_generated_fleet_has_the_shared_shape(db_url):
    n_devices, n_scans = 200, 20_000
    devices = gen_fleet_db.build(db_url, n_devices, n_scans, days=3, n_passes=1000, n_audit=50, end=NOW)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            def one(sql: str):  # noqa: ANN202
                return conn.execute(text(sql)).one()

            rows = conn.execute(text("SELECT id, device_id, seq, site_id FROM scan ORDER BY id")).all()
            assert [r[0] for r in rows] == list(range(1, n_scans + 1))
            for i, (_, device, seq, site) in enumerate(rows):
                k, want_seq = gen_fleet_db.gate_of(i, n_devices)
                assert (device, site, seq) == (*devices[k], want_seq), i
            assert one("SELECT count(*) FROM (SELECT device_id FROM scan GROUP BY device_id "
                       "HAVING min(seq) <> 1 OR max(seq) <> count(*)) g")[0] == 0
            # receive order = id order; every hash a known pass; the shares of scan_rows
            assert one("SELECT count(*) FROM scan a JOIN scan b ON b.id = a.id + 1 "
                       "WHERE b.received_at < a.received_at")[0] == 0
            assert one("SELECT count(*) FROM scan WHERE pass_hash NOT IN (SELECT pass_hash FROM pass)")[0] == 0
            ok, trusted, lo, hi = one("SELECT sum(CASE WHEN verdict THEN 1 ELSE 0 END), "
                                      "sum(CASE WHEN time_valid THEN 1 ELSE 0 END), "
                                      "min(received_at), max(received_at) FROM scan")
            assert 0.91 < ok / n_scans < 0.95 and 0.98 < trusted / n_scans < 1.0
            assert NOW - 3 * 86400 <= lo and hi <= NOW
            assert one("SELECT count(*) FROM scan WHERE NOT verdict AND reason = 0")[0] == 0
            assert one("SELECT count(*) FROM site WHERE lat IS NULL OR lon IS NULL")[0] == 0
        # the load dropped them; they are back
        # (by name from the catalogue: SQLite's inspector skips expression indexes)
        listing = ("SELECT indexname FROM pg_indexes WHERE tablename = 'scan'"
                   if engine.dialect.name == "postgresql"
                   else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'scan'")
        with engine.connect() as conn:
            names = set(conn.execute(text(listing)).scalars())
        assert {ix.name for ix in Scan.__table__.indexes} <= names
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("INSERT INTO scan (id, device_id, seq, site_id, time, time_valid, verdict, "
                              "reason, received_at) SELECT max(id) + 1, device_id, 1, site_id, 0, true, "
                              "true, 0, 0 FROM scan WHERE id = 1 GROUP BY device_id, site_id"))
        with make_sessionmaker(engine)() as db:
            assert rollup.drift(db) == 0
            for level in rollup.LEVELS:
                total = db.execute(text(f"SELECT sum(count) FROM {level.table.name}")).scalar()
                assert total == n_scans, level.table.name
    finally:
        engine.dispose()
