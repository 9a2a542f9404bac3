"""Dashboard page time with 10,000 devices and 10,000,000 scans stored.

Target (issue 4): p95 <= 300 ms per page. Builds (or reuses) a database with
1,000 businesses x 2 sites x 5 gates and N scans spread over the last D days,
then times the dashboard pages through the real app (fleet create_app + the
dashboard router, in-process ASGI client, logged in as an operator).

    python3 bench/bench_dashboard.py                       # SQLite, 10k devices, 10M scans
    python3 bench/bench_dashboard.py --scans 1000000       # quicker
    python3 bench/bench_dashboard.py --db postgresql://greengate:greengate@127.0.0.1:5432/greengate_dashboard_bench
    python3 bench/bench_dashboard.py --reuse               # skip generation if the DB is there

Scans are loaded with executemany on SQLite (secondary indexes dropped during the
load, rebuilt afterwards) and COPY on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, insert, select, text  # noqa: E402

from fleet.core.config import Settings, normalise_db_url  # noqa: E402
from fleet.core.db import make_engine  # noqa: E402
from fleet.models import Base, Business, Device, Scan, Site, utcnow  # noqa: E402

SCAN_COLS = ("device_id", "seq", "site_id", "time", "time_valid", "pass_hash", "verdict", "reason",
             "received_at")
SECONDARY = ("ix_scan_pass_hash_time", "ix_scan_site_id_time", "ix_scan_received_at")
DENY_REASONS = (8, 10, 12, 14, 15, 21, 22, 24)


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def build_registry(engine, n_devices: int) -> list[tuple[str, int]]:
    n_sites = max(1, n_devices // 5)
    n_biz = max(1, n_sites // 2)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(Business), [
            {"id": f"B{i:04d}", "name": f"Doanh nghiệp {i}", "sector": "supermarket",
             "address": f"{i} Nguyễn Thị Thập", "ward": "Tân Phú", "zone": "green",
             "status": "approved", "operating_mode": "3_tai_cho", "two_doses": True,
             "five_k": True, "plan_approved": True, "created_at": now, "updated_at": now}
            for i in range(n_biz)])
        conn.execute(insert(Site), [
            {"id": s + 1, "business_id": f"B{s // 2:04d}", "name": f"Cổng {s}", "address": "",
             "rules": {}, "config_version": 3, "created_at": now} for s in range(n_sites)])
        rng = random.Random(7)
        devices = []
        rows = []
        for d in range(n_devices):
            did = f"gg-{d:012x}"
            site = d % n_sites + 1
            devices.append((did, site))
            online = rng.random() < 0.9
            rows.append({"id": did, "site_id": site, "public_key": "00" * 32, "mqtt_username": did,
                         "mqtt_password_hash": "x", "firmware": rng.choice(("1.4.0", "1.4.1", "1.5.0")),
                         "status": "active", "online": online, "last_seen": now,
                         "config_version": 3 if rng.random() < 0.97 else 2,
                         "revocation_version": 0, "trust_version": 1,
                         "outbox_depth": rng.choice((0, 0, 0, 2, 40, 900)),
                         "clock_drift_s": rng.gauss(0, 30), "tamper": False,
                         "registered_at": now, "registered_by": "bench"})
        conn.execute(insert(Device), rows)
    return devices


def scan_rows(devices: list[tuple[str, int]], n: int, days: int, seed: int = 1):
    """Time-ordered rows (ids grow with received_at, like real ingest)."""
    rng = random.Random(seed)
    end = int(time.time())
    start = end - days * 86400
    step = (end - start) / n
    seqs = [0] * len(devices)
    nd = len(devices)
    hashes = [f"{rng.getrandbits(128):032x}" for _ in range(200_000)]
    for i in range(n):
        k = rng.randrange(nd)
        did, site = devices[k]
        seqs[k] += 1
        received = int(start + i * step)
        ok = rng.random() < 0.93
        yield (did, seqs[k], site, received - rng.randrange(0, 5), True,
               hashes[rng.randrange(len(hashes))], ok, 0 if ok else rng.choice(DENY_REASONS),
               received)


def load_scans_sqlite(engine, devices, n: int, days: int) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-2000000")
        for ix in SECONDARY:
            cur.execute(f"DROP INDEX IF EXISTS {ix}")
        sql = f"INSERT INTO scan ({', '.join(SCAN_COLS)}) VALUES ({', '.join('?' * len(SCAN_COLS))})"
        batch = []
        t0 = time.perf_counter()
        for i, row in enumerate(scan_rows(devices, n, days), 1):
            batch.append(row)
            if len(batch) == 200_000:
                cur.executemany(sql, batch)
                raw.commit()
                batch.clear()
                log(f"  {i:,} scans ({i / (time.perf_counter() - t0):,.0f}/s)")
        if batch:
            cur.executemany(sql, batch)
        raw.commit()
        cur.close()
    finally:
        raw.close()
    ensure_indexes(engine)


def load_scans_pg(engine, devices, n: int, days: int) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for ix in SECONDARY:
            cur.execute(f"DROP INDEX IF EXISTS {ix}")
        t0 = time.perf_counter()
        with cur.copy(f"COPY scan ({', '.join(SCAN_COLS)}) FROM STDIN") as copy:
            for i, row in enumerate(scan_rows(devices, n, days), 1):
                copy.write_row(row)
                if i % 500_000 == 0:
                    log(f"  {i:,} scans ({i / (time.perf_counter() - t0):,.0f}/s)")
        raw.commit()
        cur.close()
    finally:
        raw.close()
    ensure_indexes(engine)


def ensure_indexes(engine) -> None:
    """(Re)create the scan table's secondary indexes (create_all skips indexes
    of a table that already exists) and refresh the planner statistics."""
    t0 = time.perf_counter()
    for index in Scan.__table__.indexes:
        index.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    log(f"  indexes + ANALYZE in {time.perf_counter() - t0:.1f} s")


def build(url: str, n_devices: int, n_scans: int, days: int) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    t0 = time.perf_counter()
    devices = build_registry(engine, n_devices)
    log(f"registry: {len(devices):,} devices in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    (load_scans_pg if engine.dialect.name == "postgresql" else load_scans_sqlite)(
        engine, devices, n_scans, days)
    log(f"scans: {n_scans:,} in {time.perf_counter() - t0:.1f} s")
    engine.dispose()


def pages(n_businesses: int) -> list[str]:
    mid = f"B{n_businesses // 2:04d}"
    return ["/ui/", "/ui/?page=100", "/ui/?state=offline", "/ui/?drift=1",
            f"/ui/?business={mid}", "/ui/?q=gg-00000000270", "/ui/feed",
            "/ui/charts", f"/ui/charts?business={mid}&range=24h",
            f"/ui/charts?business={mid}&range=30d", "/ui/alerts", "/ui/businesses",
            "/ui/businesses?page=10", f"/ui/businesses/{mid}", "/ui/passes", "/ui/revocations",
            "/ui/f0"]


def measure(url: str, data_dir: Path, requests: int) -> list[dict]:
    from fastapi.testclient import TestClient

    from fleet import web
    from fleet.api.main import create_app

    settings = Settings(demo=True, database_url=url, data_dir=data_dir,
                        admin_password="bench-admin-password", argon2_time_cost=1,
                        argon2_memory_kib=1024)
    engine = make_engine(settings.db_url)
    with engine.connect() as conn:
        n_biz = conn.scalar(select(func.count()).select_from(Business))
        n_dev = conn.scalar(select(func.count()).select_from(Device))
        n_scans = conn.scalar(select(func.max(Scan.id)))
    engine.dispose()
    log(f"database: {n_dev:,} devices, {n_scans:,} scans, {n_biz:,} businesses")
    app = web.mount(create_app(settings))
    results = []
    with TestClient(app) as client:
        import re
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
        r = client.post("/ui/login", data={"username": "admin", "password": settings.admin_password,
                                           "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        for path in pages(n_biz):
            t0 = time.perf_counter()
            r = client.get(path)
            cold = (time.perf_counter() - t0) * 1000
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            times = []
            for _ in range(requests):
                t0 = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            times.sort()
            results.append({"page": path, "cold_ms": cold, "p50_ms": statistics.median(times),
                            "p95_ms": times[max(0, int(len(times) * 0.95) - 1)],
                            "max_ms": times[-1]})
            log(f"{path:45s} cold {cold:7.1f}  p50 {results[-1]['p50_ms']:6.1f}  "
                f"p95 {results[-1]['p95_ms']:6.1f}  max {times[-1]:6.1f} ms")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="", help="database URL (default: SQLite file under --dir)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "gg-bench-dashboard"))
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--scans", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--requests", type=int, default=40, help="timed requests per page")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing database")
    args = ap.parse_args()
    data_dir = Path(args.dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    url = normalise_db_url(args.db) if args.db else f"sqlite:///{data_dir / 'fleet.db'}"
    sqlite_file = data_dir / "fleet.db"
    if not (args.reuse and (args.db or sqlite_file.exists())):
        if not args.db and sqlite_file.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(sqlite_file) + suffix).unlink(missing_ok=True)
        build(url, args.devices, args.scans, args.days)
    else:
        engine = make_engine(url)
        ensure_indexes(engine)
        engine.dispose()
    results = measure(url, data_dir, args.requests)
    worst = max(r["p95_ms"] for r in results)
    print(f"backend={url.split(':')[0]} pages={len(results)} worst_p95_ms={worst:.1f} "
          f"target<=300 {'OK' if worst <= 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
