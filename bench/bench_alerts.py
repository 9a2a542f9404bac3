"""Alerts page time with 100,000 alert groups (issue 12, target p95 <= 300 ms).

Builds a database with 10,000 gates (gen_fleet_db.build_registry) and N
alert groups spread over the last D days: every kind, its severity, a
fifth still open, REVOKED_PRESENTED per pass hash; then times the alerts
page with its filters and pages, and the CSV export of every group, through
the real app (create_app + the dashboard, in-process ASGI client, logged in
as an admin; the business manager's view too).

    python3 bench/bench_alerts.py                      # SQLite, 100,000 groups
    python3 bench/bench_alerts.py --db postgresql://greengate:greengate@127.0.0.1:5432/greengate_alerts_bench
    python3 bench/bench_alerts.py --reuse              # keep the database of the last run
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from sqlalchemy import func, insert, select, text  # noqa: E402

from gen_fleet_db import build_registry  # noqa: E402
from webbench import arg_parser, database, fresh_schema, log, login, timed  # noqa: E402
from fleet.core.config import Settings  # noqa: E402
from fleet.core.db import make_engine  # noqa: E402
from fleet.models import Alert, Business, User, utcnow  # noqa: E402
from fleet.services import alerts, users  # noqa: E402

# how often each kind occurs among the groups
MIX = {"DEVICE_OFFLINE": 30, "REVOKED_PRESENTED": 25, "CLOCK_DRIFT": 10, "CONFIG_DRIFT": 8,
       "REVOCATION_DRIFT": 8, "OUTBOX_BACKLOG": 6, "CONTROL_REJECTED": 6, "INGEST_DEAD_LETTER": 3,
       "TAMPER": 2, "GATE_ERROR": 2}


def build(url: str, n_devices: int, n_alerts: int, days: int) -> None:
    engine = fresh_schema(url)
    devices = build_registry(engine, n_devices)
    rng = random.Random(12)
    kinds = [k for k, w in MIX.items() for _ in range(w)]
    now = utcnow()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        rows = []
        for i in range(n_alerts):
            kind = rng.choice(kinds)
            did, site = devices[rng.randrange(len(devices))]
            business = f"B{(site - 1) // 2:04d}"
            first = now - dt.timedelta(seconds=rng.randrange(days * 86400))
            last = min(now, first + dt.timedelta(seconds=rng.randrange(6 * 3600)))
            acked = rng.random() < 0.8
            if kind == "REVOKED_PRESENTED":
                h = f"{rng.getrandbits(128):032x}"
                subject, detail = f"pass:{h}@{business}", {"pass_hash": h, "seq": rng.randrange(10**6)}
            else:
                h, subject, detail = None, f"dev:{did}", {"n": i}
            rows.append({
                "kind": kind, "severity": alerts.SEVERITY[kind],
                # acknowledged groups of one key repeat in life; unique here is enough
                "group_key": alerts.group_key(kind, subject, {"i": i}), "device_id": did,
                "business_id": business, "detail": detail, "pass_hash": h, "count": rng.choice((1, 1, 2, 5, 23, 140)),
                "created_at": first, "last_seen_at": last,
                "acknowledged_at": last + dt.timedelta(minutes=5) if acked else None,
                "acknowledged_by": "operator" if acked else None,
                "ack_note": "kiểm tra ca đêm" if acked and i % 3 == 0 else None,
                "notify_state": "sent" if alerts.SEVERITY[kind] == "critical" else None,
                "notify_attempts": 1 if alerts.SEVERITY[kind] == "critical" else 0})
            if len(rows) == 10_000:
                conn.execute(insert(Alert), rows)
                rows.clear()
        if rows:
            conn.execute(insert(Alert), rows)
    # planner statistics, and on PostgreSQL the visibility map (index-only
    # scans), as autovacuum keeps them on a live database
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    log(f"alerts: {n_alerts:,} groups in {time.perf_counter() - t0:.1f} s")
    engine.dispose()


def pages(deep: list[str]) -> list[str]:
    """`deep`: page cursors (listing.datetime_keyset_page) far down the list."""
    return ["/ui/alerts", "/ui/alerts?state=all",
            *(f"/ui/alerts?state=all&before={c}" for c in deep), "/ui/alerts?severity=critical",
            "/ui/alerts?state=all&kind=DEVICE_OFFLINE", "/ui/alerts?state=acked&severity=info&range=7d",
            "/ui/alerts?range=1h", "/ui/alerts?state=all&range=today", "/ui/alerts?state=all&range=7d",
            "/ui/alerts?state=all&q=gg-00000000270", "/ui/alerts?state=all&q=B0123",
            "/ui/alerts?state=all&q=abcd", "/ui/alerts?lang=en"]


def measure(url: str, data_dir: Path, requests: int) -> list[dict]:
    from fastapi.testclient import TestClient

    from fleet import web
    from fleet.api.main import create_app

    settings = Settings(demo=True, database_url=url, data_dir=data_dir,
                        admin_password="bench-admin-password", argon2_time_cost=1,
                        argon2_memory_kib=1024)
    engine = make_engine(settings.db_url)
    with engine.begin() as conn:
        n = conn.scalar(select(func.count()).select_from(Alert))
        n_open = conn.scalar(select(func.count()).select_from(Alert).where(Alert.acknowledged_at.is_(None)))
        n_biz = conn.scalar(select(func.count()).select_from(Business))
        mid = conn.scalar(select(Business.id).order_by(Business.id).offset(min(250, n_biz // 2)).limit(1))
        # the cursors of what were pages 500 and 2,000 (50 rows a page) before keyset paging
        deep = [f"{int(at.timestamp() * 1_000_000)}.{i}" for at, i in (
            conn.execute(select(Alert.last_seen_at, Alert.id)
                         .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
                         .offset(k * 50 - 1).limit(1)).one_or_none() or (None, None)
            for k in (500, 2000)) if at is not None]
    from fleet.core.db import make_sessionmaker
    with make_sessionmaker(engine)() as db:
        if db.scalar(select(User).where(User.username == "bench-manager")) is None:
            users.create_user(db, "bench-manager", "bench-manager-password", "manager", mid)
            db.commit()
    engine.dispose()
    log(f"database: {n:,} alert groups, {n_open:,} open")
    app = web.mount(create_app(settings))
    results = []
    with TestClient(app) as client:
        login(client, "admin", settings.admin_password)
        for path in pages(deep):
            results.append(timed(client, path, requests))
        t0 = time.perf_counter()
        r = client.get("/ui/alerts.csv?state=all")
        csv_s = time.perf_counter() - t0
        rows = r.content.count(b"\n") - 1
        assert r.status_code == 200 and rows == n, (rows, n)
        log(f"CSV of every group: {rows:,} rows, {len(r.content) / 1e6:.1f} MB in {csv_s:.2f} s "
            f"({rows / csv_s:,.0f} rows/s)")
    with TestClient(app) as client:
        login(client, "bench-manager", "bench-manager-password")
        for path in ("/ui/alerts", "/ui/alerts?state=all", "/ui/alerts?state=all&range=7d"):
            results.append(timed(client, path + ("&" if "?" in path else "?") + "as=manager",
                                 requests))
    return results


def main() -> None:
    ap = arg_parser(__doc__, "alerts")
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--reuse", action="store_true", help="reuse an existing database")
    args = ap.parse_args()
    reuse = args.reuse and (args.db or (Path(args.dir) / "fleet.db").exists())
    data_dir, url = database(args, rebuild=not reuse)
    if not reuse:
        build(url, args.devices, args.alerts, args.days)
    results = measure(url, data_dir, args.requests)
    worst = max(r["p95_ms"] for r in results)
    print(f"backend={url.split(':')[0]} pages={len(results)} worst_p95_ms={worst:.1f} "
          f"target<=300 {'OK' if worst <= 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
