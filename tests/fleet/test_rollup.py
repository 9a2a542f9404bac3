"""Hourly scan rollup (scan_hourly) kept on ingest: equal to a GROUP BY over
the scans after concurrent ingest by several processes, re-deliveries add
nothing, the backfill rebuilds it, the CLI checks it."""

from __future__ import annotations

import multiprocessing as mp
import random

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Scan, ScanHourly
from fleet.services import rollup, scans

HOUR = 3600
T0 = 1_632_700_800  # 27 Sep 2021 00:00 UTC


def _rows(worker: int, batch: int, n: int, seed: int) -> list[dict]:
    """Scans of 6 devices over 5 hours and 3 sites; half of each worker's
    (device, seq) pairs are also sent by the next worker (a re-delivery that
    reaches another bridge process)."""
    rng = random.Random(seed * 1000 + batch)
    out = []
    for i in range(n):
        shared = rng.random() < 0.5
        owner = (worker + 1) if shared else worker
        dev = f"gg-{rng.randrange(6):02d}"
        seq = owner * 1_000_000 + batch * n + i if not shared else (owner % 97) * 1_000_000 + batch * n + i
        valid = rng.random() > 0.1
        ok = rng.random() < 0.8
        out.append({"device_id": dev, "seq": seq, "site_id": rng.choice((1, 2, 3, None)),
                    "time": T0 + rng.randrange(5 * HOUR) if valid else rng.randrange(1000),
                    "time_valid": valid, "pass_hash": f"{rng.getrandbits(128):032x}",
                    "verdict": ok, "reason": 0 if ok else rng.choice((8, 12, 14)),
                    "received_at": T0 + rng.randrange(5 * HOUR)})
    return out


def _ingest_worker(url: str, worker: int, batches: int, start) -> None:  # noqa: ANN001
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    start.wait()
    for b in range(batches):
        rows = _rows(worker, b, 60, seed=7)
        while True:  # like the bridge: a deadlock or a busy database is retried
            try:
                with sessions() as db:
                    scans.ingest_rows(db, rows)
                    db.commit()
                break
            except OperationalError:
                continue
    engine.dispose()


def _grouped(db) -> dict:
    at = rollup.SCAN_AT
    hour = at - at % HOUR
    site = func.coalesce(Scan.site_id, -1)
    return {(h, s, bool(v), r): n for h, s, v, r, n in db.execute(
        select(hour, site, Scan.verdict, Scan.reason, func.count())
        .group_by(hour, site, Scan.verdict, Scan.reason)).all()}


def _stored(db) -> dict:
    return {(h, s, bool(v), r): n for h, s, v, r, n in db.execute(
        select(ScanHourly.hour, ScanHourly.site_id, ScanHourly.verdict, ScanHourly.reason,
               ScanHourly.count)).all()}


def test_concurrent_processes_agree_with_group_by(settings, engine, session_factory):
    n_workers, batches = 4, 12
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_ingest_worker, args=(settings.db_url, w, batches, start))
             for w in range(n_workers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    with session_factory() as db:
        total = db.scalar(select(func.count()).select_from(Scan))
        stored = _stored(db)
        assert total > n_workers * batches * 60 * 0.5  # re-deliveries were skipped, not all
        assert sum(stored.values()) == total
        assert stored == _grouped(db)
        assert rollup.drift(db) == 0


def test_redelivery_adds_nothing_and_untrusted_clock_uses_receive_hour(session_factory):
    row = {"device_id": "gg-x", "seq": 1, "site_id": None, "time": 12, "time_valid": False,
           "pass_hash": None, "verdict": False, "reason": 8, "received_at": T0 + 2 * HOUR + 5}
    with session_factory() as db:
        assert scans.ingest_rows(db, [row, {**row, "seq": 2, "site_id": 4, "time_valid": True,
                                            "time": T0 + 59, "verdict": True, "reason": 0}]).inserted == 2
        db.commit()
        assert scans.ingest_rows(db, [row]).inserted == 0
        db.commit()
        assert _stored(db) == {(T0 + 2 * HOUR, -1, False, 8): 1, (T0, 4, True, 0): 1}


def test_backfill_rebuilds_all_or_from_an_hour(session_factory):
    with session_factory() as db:
        for b in range(3):
            scans.ingest_rows(db, _rows(0, b, 80, seed=3))
        db.commit()
        right = _stored(db)
        db.execute(delete(ScanHourly))
        db.commit()
        assert rollup.drift(db) > 0
        assert rollup.backfill(db) == len(right)
        db.commit()
        assert _stored(db) == right
        # damage hours before and after T0+3h; a partial recount repairs only the later ones
        db.execute(update(ScanHourly).values(count=ScanHourly.count + 5))
        db.commit()
        rollup.backfill(db, since=T0 + 3 * HOUR + 17)
        db.commit()
        got = _stored(db)
        for k, n in right.items():
            assert got[k] == (n if k[0] >= T0 + 3 * HOUR else n + 5)


@pytest.mark.parametrize("damage", [False, True])
def test_cli_check_and_backfill(db_url, damage):
    from typer.testing import CliRunner

    from fleet.cli import app
    from fleet.migrations import upgrade

    upgrade(db_url)  # the CLI migrates too: start from a migrated database
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        scans.ingest_rows(db, _rows(1, 0, 50, seed=9))
        damaged = 0
        if damage:
            damaged = db.execute(update(ScanHourly).where(ScanHourly.hour == db.scalar(
                select(func.min(ScanHourly.hour)))).values(count=999)).rowcount
        db.commit()
    runner = CliRunner()
    engine.dispose()
    r = runner.invoke(app, ["rollup", "--check", "--db", db_url, "--json"])
    assert r.exit_code == (1 if damage else 0), r.output
    assert f'"differing_counters": {damaged}' in r.output
    r = runner.invoke(app, ["rollup", "--db", db_url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["rollup", "--check", "--db", db_url])
    assert r.exit_code == 0, r.output
