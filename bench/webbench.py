"""What the dashboard benches share (bench_dashboard, bench_alerts, bench_map,
bench_rollup_ingest): a fresh schema, an operator's login, and one page
timed the same way everywhere (a cold request, then N timed ones: p50, p95,
max of wall time, p95 of this process's CPU, response size)."""

from __future__ import annotations

import re
import statistics
import sys
import time


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def fresh_schema(url: str):  # noqa: ANN201
    """An engine on an empty database with the fleet's tables (PostgreSQL:
    the public schema dropped and made again; SQLite: the caller removes the file)."""
    from sqlalchemy import text

    from fleet.core.db import make_engine
    from fleet.models import Base

    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    return engine


def login(client, username: str, password: str) -> None:  # noqa: ANN001
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    r = client.post("/ui/login", data={"username": username, "password": password,
                                       "csrf_token": token}, follow_redirects=False)
    if r.status_code != 303:
        raise SystemExit(f"login as {username} failed: {r.status_code} {r.text[:200]}")


def timed(client, path: str, requests: int, width: int = 50, headers: dict | None = None,
          status: int = 200) -> dict:  # noqa: ANN001
    """`headers` go with every request (e.g. If-None-Match), each answer must
    have `status`; bytes is the decoded body, wire what came over (gzip)."""
    t0 = time.perf_counter()
    r = client.get(path, headers=headers)
    cold = (time.perf_counter() - t0) * 1000
    if r.status_code != status:
        raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
    size, wire = len(r.content), r.num_bytes_downloaded
    times, cpu = [], []
    for _ in range(requests):
        t0, c0 = time.perf_counter(), time.process_time()
        got = client.get(path, headers=headers).status_code
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)  # this process's CPU, all threads
        if got != status:
            raise SystemExit(f"{path}: {got}")
    times.sort()
    cpu.sort()
    p95 = max(0, int(len(times) * 0.95) - 1)
    out = {"page": path, "cold_ms": cold, "p50_ms": statistics.median(times), "p95_ms": times[p95],
           "max_ms": times[-1], "cpu_p95_ms": cpu[p95], "bytes": size, "wire": wire}
    shown = f"{size / 1024:6.0f} KiB" + (f" ({wire / 1024:.0f} KiB sent)" if wire < size else "")
    log(f"{path:{width}s} {shown}  cold {cold:7.1f}  p50 {out['p50_ms']:6.1f}  "
        f"p95 {out['p95_ms']:6.1f}  max {times[-1]:6.1f} ms  (CPU p95 {cpu[p95]:6.1f} ms)")
    return out


def arg_parser(doc: str, name: str):  # noqa: ANN201
    """The options every dashboard bench takes: --db, --dir, --devices, --requests."""
    import argparse
    import os
    import tempfile

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--db", default="", help="database URL (default: SQLite file under --dir)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), f"gg-bench-{name}"))
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=40, help="timed requests per page")
    return ap


def database(args, rebuild: bool):  # noqa: ANN001, ANN201
    """(data dir, database URL) for the parsed options; with rebuild, an
    SQLite file left by an earlier run is removed (PostgreSQL: fresh_schema)."""
    from pathlib import Path

    from fleet.core.config import normalise_db_url

    data_dir = Path(args.dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.db:
        return data_dir, normalise_db_url(args.db)
    sqlite_file = data_dir / "fleet.db"
    if rebuild:
        for suffix in ("", "-wal", "-shm"):
            Path(str(sqlite_file) + suffix).unlink(missing_ok=True)
    return data_dir, f"sqlite:///{sqlite_file}"
