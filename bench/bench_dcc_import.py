"""DSC trust-list import on the fleet (issue 13): parse time of the real
832-certificate EU list, the import into SQLite (rows, list version, the
kind-7 snapshot), the GGDT snapshot and delta sizes a gate fetches.

    python3 bench/bench_dcc_import.py [--runs N] [--clock 2023-06-01]

--clock: the import time (DSCs expired then are refused); the list is a 2023
snapshot, so today's clock keeps only its long-lived signers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LIST = REPO / "tests" / "vectors" / "dcc-trustlist" / "trustlist_de.json"


def _ms(f, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = f()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clock", default="2023-06-01")
    a = ap.parse_args()
    now = int(dt.datetime.fromisoformat(a.clock).replace(tzinfo=dt.timezone.utc).timestamp())

    from fleet.broker_bridge import topics
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.models import Base, Blob
    from fleet.services import control, dcc
    from greengate.dcc import trustlist

    data = LIST.read_bytes()
    parse_ms, result = _ms(lambda: trustlist.parse_trustlist(data, now=now), a.runs)
    print(f"parse {len(data):,} B, {len(result.signers) + len(result.refused)} certificates: "
          f"{parse_ms:.0f} ms median of {a.runs} ({len(result.signers)} accepted at {a.clock})")

    def import_once() -> tuple:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/fleet.db")
            Base.metadata.create_all(engine)
            try:
                with make_sessionmaker(engine)() as db:
                    t0 = time.perf_counter()
                    dcc.import_trustlist(db, data, "bench", "bench", now=now)
                    db.commit()
                    first = (time.perf_counter() - t0) * 1000
                    snap = db.get(Blob, control.latest_row(db, topics.DCC).body["snapshot"]).data
                    t0 = time.perf_counter()
                    smaller = [s for s in result.signers][10:]
                    dcc.import_trustlist(db, trustlist.trustlist_json([(s.der, s.country) for s in smaller]),
                                         "bench-2", "bench", now=now)
                    db.commit()
                    second = (time.perf_counter() - t0) * 1000
                    delta = db.get(Blob, control.latest_row(db, topics.DCC).body["delta"]).data
                    return first, second, len(snap), len(delta)
            finally:
                engine.dispose()

    runs = [import_once() for _ in range(a.runs)]
    med = [statistics.median(r[i] for r in runs) for i in range(4)]
    n = len(result.signers)
    print(f"import into SQLite (parse, {n} rows, list version, GGDT snapshot blob, kind-7 outbox row): "
          f"{med[0]:.0f} ms; re-import without 10 signers (diff, delta): {med[1]:.0f} ms")
    print(f"GGDT snapshot {med[2]:,.0f} B for {n} keys ({med[2] / n:.0f} B/key, "
          f"{-(-int(med[2]) // 768)} chunks of 768 B); delta removing 10: {med[3]:,.0f} B")


if __name__ == "__main__":
    main()
