"""Dashboard page time with 10,000 devices and 10,000,000 scans stored.

Target (issue 4): p95 <= 300 ms per page. Builds (or reuses) a database with
1,000 businesses x 2 sites x 5 gates and N scans spread over the last D days,
then times the dashboard pages through the real app (fleet create_app + the
dashboard router, in-process ASGI client, logged in as an operator).

    python3 bench/bench_dashboard.py                       # SQLite, 10k devices, 10M scans
    python3 bench/bench_dashboard.py --scans 1000000       # quicker
    python3 bench/bench_dashboard.py --db postgresql://greengate:greengate@127.0.0.1:5432/greengate_dashboard_bench
    python3 bench/bench_dashboard.py --reuse               # skip generation if the DB is there

The database is built by bench/gen_fleet_db.py (COPY on PostgreSQL, executemany
on SQLite; indexes rebuilt and the hourly rollup counted after the load).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))

from sqlalchemy import func, select  # noqa: E402

from fleet.core.config import Settings  # noqa: E402
from fleet.core.db import make_engine  # noqa: E402
from fleet.models import Business, Device, Scan  # noqa: E402
from gen_fleet_db import WARDS, build, ensure_indexes  # noqa: E402
from webbench import arg_parser, database, log, login, timed  # noqa: E402

def pages(n_businesses: int) -> list[str]:
    """Every dashboard page, and every filter of the lists (issue 12)."""
    from urllib.parse import quote

    mid = f"B{n_businesses // 2:04d}"
    ward = quote(WARDS[3])
    month = time.strftime("%Y-%m-%d", time.localtime(time.time() - 30 * 86400))
    day = time.strftime("%Y-%m-%d", time.localtime(time.time() - 10 * 86400))
    return ["/ui/", "/ui/?page=100", "/ui/?state=offline", "/ui/?drift=1",
            f"/ui/?business={mid}", "/ui/?q=gg-00000000270", f"/ui/?ward={ward}", "/ui/?q=kho+hang",
            "/ui/feed", "/ui/feed?verdict=denied&reason=12", f"/ui/feed?ward={ward}",
            "/ui/scans", "/ui/scans?range=1h", "/ui/scans?range=7d&verdict=denied",
            "/ui/scans?range=7d&reason=24", f"/ui/scans?range=7d&ward={ward}",
            f"/ui/scans?range=all&business={mid}", "/ui/scans?range=all&site=777",
            "/ui/scans?range=all&q=bep+an", "/ui/scans?range=all&q=abcd",
            f"/ui/scans?range=custom&from={day}&to={day}&verdict=denied&reason=21",
            "/ui/scans?range=all&before=1700000000.5000000",
            "/ui/charts", "/ui/charts?range=7d", f"/ui/charts?range=custom&from={month}",
            f"/ui/charts?range=7d&ward={ward}", f"/ui/charts?business={mid}&range=7d",
            f"/ui/charts?range=custom&from={month}&reason=12",
            "/ui/alerts", "/ui/businesses", "/ui/businesses?page=10", f"/ui/businesses/{mid}",
            "/ui/passes", "/ui/passes?q=kho+hang", f"/ui/passes?ward={ward}&range=all",
            "/ui/revocations", "/ui/f0", "/ui/audit", "/ui/audit?range=all&action=alert.ack",
            "/ui/audit?range=all&q=ops"]


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
        login(client, "admin", settings.admin_password)
        for path in pages(n_biz):
            results.append(timed(client, path, requests, width=45))
    return results


def main() -> None:
    ap = arg_parser(__doc__, "dashboard")
    ap.add_argument("--scans", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--reuse", action="store_true", help="reuse an existing database")
    args = ap.parse_args()
    reuse = args.reuse and (args.db or (Path(args.dir) / "fleet.db").exists())
    data_dir, url = database(args, rebuild=not reuse)
    if not reuse:
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
