"""What the hourly rollup costs the ingest transaction: scans stored per
second through fleet.services.scans.ingest_rows (the bridge's call: one
INSERT ... ON CONFLICT of a whole batch, then the rollup upsert, one commit)
by P processes at once, with the rollup and without it.

    python3 bench/bench_rollup_ingest.py --db postgresql://greengate:greengate@127.0.0.1:5432/greengate_rollup_bench
    python3 bench/bench_rollup_ingest.py --db ... --no-rollup     # the same without the upsert (bench only)

Rows look like the bridge's batches: 500 gates' messages of 30 scans (15,000
rows per transaction), gates spread over 2,000 sites, the current hour, 7 %
denied over 8 reasons. The database is recreated. With the rollup on, its
counters are checked against a GROUP BY over the scans at the end.
The end-to-end number (broker, bridge processes) is bench/bench_fleet_ingest.py.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

DENY = (8, 10, 12, 14, 15, 21, 22, 24)


def batch(worker: int, b: int, rows: int, now: int) -> list[dict]:
    rng = random.Random(worker * 100_003 + b)
    out = []
    for i in range(rows):
        dev = rng.randrange(10_000)
        ok = rng.random() < 0.93
        out.append({"device_id": f"gg-{dev:012x}", "seq": (worker * 10_000 + b) * rows + i,
                    "site_id": dev % 2000 + 1, "time": now - rng.randrange(60), "time_valid": True,
                    "pass_hash": f"{rng.getrandbits(128):032x}", "verdict": ok,
                    "reason": 0 if ok else rng.choice(DENY), "received_at": now})
    return out


def worker_main(url: str, worker: int, batches: int, rows: int, rollup_on: bool, start, out) -> None:  # noqa: ANN001
    from sqlalchemy.exc import OperationalError

    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.services import scans

    if not rollup_on:
        scans.rollup.add = lambda db, counts: None  # bench only: the baseline without the upsert
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = int(time.time())
    data = [batch(worker, b, rows, now) for b in range(batches)]  # made before the clock starts
    start.wait()
    t0 = time.perf_counter()
    retries = 0
    for rows_b in data:
        while True:
            try:
                with sessions() as db:
                    scans.ingest_rows(db, rows_b)
                    db.commit()
                break
            except OperationalError:  # deadlock / busy: the bridge retries the batch too
                retries += 1
    out.put((worker, time.perf_counter() - t0, retries))
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--batches", type=int, default=20, help="transactions per process")
    ap.add_argument("--rows", type=int, default=15_000, help="scans per transaction")
    ap.add_argument("--no-rollup", action="store_true")
    a = ap.parse_args()
    from sqlalchemy import func, select

    from fleet.core.config import normalise_db_url
    from fleet.core.db import make_sessionmaker
    from fleet.models import Scan
    from fleet.services import rollup
    from webbench import fresh_schema

    url = normalise_db_url(a.db)
    engine = fresh_schema(url)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker_main, args=(url, w, a.batches, a.rows, not a.no_rollup, start, out))
             for w in range(a.processes)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=1800) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    with make_sessionmaker(engine)() as db:
        stored = db.scalar(select(func.count()).select_from(Scan))
        drift = rollup.drift(db) if not a.no_rollup else "n/a"
    engine.dispose()
    total = a.processes * a.batches * a.rows
    print(f"db={engine.dialect.name} rollup={'off' if a.no_rollup else 'on'} processes={a.processes} "
          f"rows={total:,} stored={stored:,} seconds={wall:.1f} rows_per_s={stored / wall:,.0f} "
          f"retries={sum(r for _, _, r in results)} rollup_drift={drift} target>=20000 "
          f"{'OK' if stored / wall >= 20_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
