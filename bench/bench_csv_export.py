"""CSV export speed and memory: download a filtered scan list of about N rows
(default 1,000,000) from /ui/scans.csv of the real app served by uvicorn in
its own process, and sample that process's resident memory (VmRSS) while it
streams. Target (issue 12): >= 50,000 rows/s with flat memory.

    python3 bench/bench_csv_export.py --db postgresql://greengate:greengate@127.0.0.1:5432/greengate_dashboard_bench
    python3 bench/bench_csv_export.py --db ... --rows 200000

The database is one bench/gen_fleet_db.py built (10,000 gates / 10,000,000
scans over 30 days): the time range is widened back from the newest scan
until it holds --rows scans (counted on the rollup, checked on the CSV).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from fleet.core.config import normalise_db_url  # noqa: E402

SERVER = """
import sys, uvicorn
from fleet import web
from fleet.api.main import create_app
from fleet.core.config import Settings
s = Settings(demo=True, database_url=sys.argv[1], data_dir=sys.argv[2], admin_password="bench-admin-password",
             argon2_time_cost=1, argon2_memory_kib=1024)
uvicorn.run(web.mount(create_app(s)), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def window(url: str, rows: int) -> tuple[int, int, int]:
    """(start, end, scans): whole hours back from the newest scan hour until
    the rollup holds >= rows scans."""
    from sqlalchemy import func, select

    from fleet.core.db import make_engine
    from fleet.models import ScanHourly

    engine = make_engine(url)
    with engine.connect() as conn:
        per_hour = conn.execute(select(ScanHourly.hour, func.sum(ScanHourly.count))
                                .where(ScanHourly.site_id >= 0)
                                .group_by(ScanHourly.hour).order_by(ScanHourly.hour.desc())).all()
    engine.dispose()
    total = 0
    end = per_hour[0][0] + 3600
    for hour, n in per_hour:
        total += n
        if total >= rows:
            return hour, end, total
    return per_hour[-1][0], end, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    import datetime as dt
    import socket

    import httpx

    from fleet.web import localtime

    url = normalise_db_url(a.db)
    start, end, expected = window(url, a.rows)
    tz = localtime.zone(localtime.DEFAULT_ZONE)
    frm = dt.datetime.fromtimestamp(start, tz).strftime("%Y-%m-%dT%H:%M")
    to = dt.datetime.fromtimestamp(end, tz).strftime("%Y-%m-%dT%H:%M")
    port = a.port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    data_dir = tempfile.mkdtemp(prefix="gg-csv-bench-")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-c", SERVER, url, data_dir, str(port)], env=env, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/ui/login", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        c = httpx.Client(base_url=base, timeout=600)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/ui/login").text).group(1)
        r = c.post("/ui/login", data={"username": "admin", "password": "bench-admin-password",
                                       "csrf_token": token})
        assert r.status_code in (200, 303), r.status_code
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(rss_kib(server.pid))
                done.wait(0.1)

        base_rss = rss_kib(server.pid)
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        lines = 0
        size = 0
        t0 = time.perf_counter()
        first = None
        with c.stream("GET", "/ui/scans.csv", params={"range": "custom", "from": frm, "to": to}) as resp:
            assert resp.status_code == 200, resp.status_code
            for chunk in resp.iter_bytes():
                if first is None:
                    first = time.perf_counter() - t0
                lines += chunk.count(b"\n")
                size += len(chunk)
        elapsed = time.perf_counter() - t0
        done.set()
        t.join()
        rows = lines - 1  # the header
        log(f"range {frm} .. {to} (local), rollup says {expected:,} scans")
        print(f"rows={rows:,} bytes={size / 1e6:.1f}MB seconds={elapsed:.1f} rows_per_s={rows / elapsed:,.0f} "
              f"first_byte_ms={1000 * (first or 0):.0f} server_rss_kib start={base_rss:,} "
              f"peak={max(samples):,} end={samples[-1]:,} samples={len(samples)} "
              f"target>=50000/s {'OK' if rows / elapsed >= 50_000 else 'MISSED'}")
        if rows != expected:
            log(f"WARNING: {rows:,} CSV rows but {expected:,} in the rollup for that range")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
