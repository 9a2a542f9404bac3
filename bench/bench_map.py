"""Site map time with 10,000 devices: the map page and its marker endpoint.

Target (issue 12): p95 <= 300 ms for each. Builds a registry like
bench_dashboard.py (businesses x sites x gates; scans are not read by the
map, so none are loaded), places every site in District 7, suspends 5 % of
the businesses, opens an alert on 2 % of the gates, then times GET /ui/map
and GET /ui/map/markers.json (gzip, as a browser asks; then revalidated with
its ETag: 304) and one popup's /ui/map/sites/ID.json through the real app (create_app + dashboard,
in-process ASGI client, logged in as the admin).

    python3 bench/bench_map.py                                  # SQLite, 10k gates on 2,000 sites
    python3 bench/bench_map.py --sites 10000                    # one gate per site: 10,000 markers
    python3 bench/bench_map.py --db postgresql://greengate:greengate@127.0.0.1:5432/greengate_map_bench
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from sqlalchemy import insert, text  # noqa: E402

from fleet.core.config import Settings  # noqa: E402
from fleet.models import Alert, Business, Device, Site, utcnow  # noqa: E402
from webbench import arg_parser, database, fresh_schema, log, login, timed  # noqa: E402

D7 = ((10.705, 10.760), (106.695, 106.745))


def build(url: str, n_devices: int, n_sites: int) -> None:
    engine = fresh_schema(url)
    rng = random.Random(12)
    now = utcnow()
    n_biz = max(1, n_sites // 2)
    (lat0, lat1), (lon0, lon1) = D7
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Business), [
            {"id": f"B{i:05d}", "name": f"Doanh nghiệp {i}", "sector": "supermarket",
             "address": f"{i} Nguyễn Thị Thập", "ward": "Tân Phú", "zone": "green",
             "status": "suspended" if rng.random() < 0.05 else "approved",
             "operating_mode": "3_tai_cho", "two_doses": True, "five_k": True,
             "plan_approved": True, "created_at": now, "updated_at": now} for i in range(n_biz)])
        conn.execute(insert(Site), [
            {"id": s + 1, "business_id": f"B{s // 2:05d}", "name": f"Cổng {s}", "address": "",
             "rules": [], "config_version": 3, "created_at": now,
             "lat": round(rng.uniform(lat0, lat1), 6), "lon": round(rng.uniform(lon0, lon1), 6)}
            for s in range(n_sites)])
        devices = [{"id": f"gg-{d:012x}", "site_id": d % n_sites + 1, "public_key": "00" * 32,
                    "mqtt_username": f"gg-{d:012x}", "mqtt_password_hash": "x", "firmware": "1.5.0",
                    "status": "active", "online": rng.random() < 0.9, "last_seen": now,
                    "registered_at": now, "tamper": False} for d in range(n_devices)]
        conn.execute(insert(Device), devices)
        conn.execute(insert(Alert), [
            {"kind": "TAMPER", "device_id": d["id"], "business_id": None, "detail": {},
             "created_at": now, "count": 1} for d in devices if rng.random() < 0.02])
    with engine.begin() as conn:  # planner statistics, as a database in service has
        conn.execute(text("ANALYZE"))
    log(f"registry: {n_devices:,} gates on {n_sites:,} sites of {n_biz:,} businesses "
        f"in {time.perf_counter() - t0:.1f} s")
    engine.dispose()


def measure(url: str, data_dir: Path, requests: int) -> list[dict]:
    from fastapi.testclient import TestClient

    from fleet import web
    from fleet.api.main import create_app

    settings = Settings(demo=True, database_url=url, data_dir=data_dir,
                        admin_password="bench-admin-password", argon2_time_cost=1,
                        argon2_memory_kib=1024)
    app = web.mount(create_app(settings))
    results = []
    with TestClient(app) as client:
        login(client, "admin", settings.admin_password)
        for path in ("/ui/map", "/ui/map/markers.json"):
            if path.endswith(".json"):
                body = client.get(path).json()
                log(f"markers: {len(body['sites']):,} placed, counts {body['counts']}")
            results.append(timed(client, path, requests, width=24))
        # a reload while nothing changed: the browser revalidates, 304 and no body
        tag = client.get("/ui/map/markers.json").headers["etag"]
        results.append(timed(client, "/ui/map/markers.json", requests, width=24,
                             headers={"If-None-Match": tag}, status=304))
        # a popup's names (fetched when a marker is opened)
        results.append(timed(client, f"/ui/map/sites/{len(body['sites']) // 2}.json", requests, width=24))
    return results


def main() -> None:
    ap = arg_parser(__doc__, "map")
    ap.add_argument("--sites", type=int, default=2_000)
    args = ap.parse_args()
    data_dir, url = database(args, rebuild=True)
    build(url, args.devices, args.sites)
    results = measure(url, data_dir, args.requests)
    worst = max(r["p95_ms"] for r in results)
    cpu = max(r["cpu_p95_ms"] for r in results)
    print(f"backend={url.split(':')[0]} devices={args.devices} sites={args.sites} "
          f"worst_p95_ms={worst:.1f} worst_cpu_p95_ms={cpu:.1f} "
          f"target<=300 {'OK' if worst <= 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
