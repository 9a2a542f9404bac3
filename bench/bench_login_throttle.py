"""What the atomic log-in throttle costs per attempt (issue 10 finding 6).

    python3 bench/bench_login_throttle.py [--db postgresql://...] [--attempts 2000] [--threads 8]

Each attempt is what a successful log-in pays on top of the password check:
`throttle.reserve` (insert-if-missing, lock the (user, address) and address
rows, count, commit) then `throttle.forgive` + commit. Sequential from one
thread, then `--threads` threads at once, each its own address and user
(PostgreSQL: row locks; SQLite: the database write lock serialises them).
Prints attempts/s and the median / p95 per attempt. Default database: a
temporary SQLite file. It drops and recreates table login_throttle: give it
a scratch database, never a live fleet's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleet.core.config import Settings, normalise_db_url  # noqa: E402
from fleet.core.db import make_engine, make_sessionmaker  # noqa: E402
from fleet.models import Base  # noqa: E402
from fleet.services import throttle  # noqa: E402


def attempt(sessions, settings: Settings, user: str, addr: str) -> float:
    start = time.perf_counter()
    with sessions() as db:
        throttle.reserve(db, settings, user, addr)
        throttle.forgive(db, settings, user, addr)
        db.commit()
    return time.perf_counter() - start


def run(sessions, settings: Settings, attempts: int, threads: int) -> tuple[float, list[float]]:
    per_thread = attempts // threads
    times: list[float] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        mine = [attempt(sessions, settings, f"user{i}", f"10.0.0.{i}") for _ in range(per_thread)]
        with lock:
            times.extend(mine)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="")
    ap.add_argument("--attempts", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = normalise_db_url(args.db) if args.db else f"sqlite:///{tmp}/bench.db"
        settings = Settings(demo=True, database_url=url, data_dir=Path(tmp))
        engine = make_engine(url)
        Base.metadata.drop_all(engine, tables=[Base.metadata.tables["login_throttle"]])
        Base.metadata.create_all(engine, tables=[Base.metadata.tables["login_throttle"]])
        sessions = make_sessionmaker(engine)
        for threads in (1, args.threads):
            wall, times = run(sessions, settings, args.attempts, threads)
            times.sort()
            print(f"{engine.dialect.name} threads={threads}: {len(times) / wall:,.0f} attempts/s, "
                  f"median {statistics.median(times) * 1000:.2f} ms, "
                  f"p95 {times[int(len(times) * 0.95)] * 1000:.2f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
