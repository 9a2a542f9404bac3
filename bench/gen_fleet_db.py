"""Build a large fleet database fast: businesses in District 7's wards, sites,
gates, scans, passes and audit entries (10,000 gates / 10,000,000 scans by
default), then the scan indexes and the hourly rollup.

    python3 bench/gen_fleet_db.py --db postgresql://greengate:greengate@127.0.0.1:5432/greengate_dashboard_bench
    python3 bench/gen_fleet_db.py --db sqlite:////tmp/gg.db --devices 200 --scans 20000

A library first: tests build the same shape with `build()`, at small sizes
and at the full size (tests/fleet/web/test_chromium_10m.py). On PostgreSQL
the scans are made by PostgreSQL itself (load_scans_pg_sql: INSERT ... SELECT
FROM generate_series in two connections, nothing crosses the socket;
`--python-rows` for the old Python rows + COPY); on SQLite Python makes them
(scan_rows) and executemany loads them. Both follow one distribution: gates
in rounds (gate_of: gap-free seq per gate), 93 % accepted, 1 % untrusted
clocks, md5 pass hashes of the pass table. The scan table's secondary
indexes (and on PostgreSQL its unique constraint) are dropped during the
load and rebuilt after it; the rollup is then counted from the scans
(fill_rollup: one GROUP BY over scan, the coarser grains from the finest).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert, text  # noqa: E402

from fleet.core.config import normalise_db_url  # noqa: E402
from fleet.core.db import make_engine  # noqa: E402
from fleet.models import AuditLog, Base, Business, Device, Pass, Scan, Site, utcnow  # noqa: E402
from fleet.services import rollup  # noqa: E402

SCAN_COLS = ("device_id", "seq", "site_id", "time", "time_valid", "pass_hash", "verdict", "reason",
             "received_at")
DENY_REASONS = (8, 10, 12, 14, 15, 21, 22, 24)
WARDS = ("Tân Thuận Đông", "Tân Thuận Tây", "Tân Kiểng", "Tân Hưng", "Bình Thuận", "Tân Quy",
         "Phú Thuận", "Tân Phú", "Tân Phong", "Phú Mỹ")
KINDS = ("Siêu thị", "Nhà thuốc", "Bếp ăn", "Kho hàng", "Cửa hàng tiện lợi", "Xưởng in")
STREETS = ("Nguyễn Thị Thập", "Huỳnh Tấn Phát", "Nguyễn Hữu Thọ", "Lê Văn Lương", "Nguyễn Văn Linh")
GATES = ("Cổng chính", "Cổng kho", "Cổng phụ", "Cổng nhân viên")
D7 = ((10.705, 10.760), (106.695, 106.745))  # District 7's box: where the sites are placed


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def ward_of(i: int) -> str:
    return WARDS[i % len(WARDS)]


def business_name(i: int) -> str:
    return f"{KINDS[i % len(KINDS)]} {STREETS[(i // len(KINDS)) % len(STREETS)]} số {i}"


def _registry_rows(n_devices: int, demo: bool) -> tuple[list[dict], list[dict]]:
    """(businesses, sites). Default: 1 business per 2 sites, 1 site per 5
    gates. demo: the demo's District 7 (greengate/demo/district7.py), one
    site per business."""
    now = utcnow()
    common = {"zone": "green", "status": "approved", "two_doses": True, "five_k": True,
              "plan_approved": True, "created_at": now, "updated_at": now}
    if demo:
        from greengate.demo import district7 as d7
        biz = [{"id": b.id, "name": b.name, "sector": b.sector, "address": b.address, "ward": b.ward,
                "operating_mode": b.mode, **common} for b in d7.BUSINESSES]
        sites = [{"id": i + 1, "business_id": b.id, "name": b.gate_vi, "name_en": b.gate_en,
                  "address": b.address, "rules": [], "config_version": 1, "created_at": now,
                  "lat": b.lat, "lon": b.lon}
                 for i, b in enumerate(d7.BUSINESSES)]
        return biz, sites
    n_sites = max(1, n_devices // 5)
    n_biz = max(1, (n_sites + 1) // 2)
    biz = [{"id": f"B{i:04d}", "name": business_name(i), "sector": "supermarket",
            "address": f"{i} {STREETS[i % len(STREETS)]}", "ward": ward_of(i),
            "operating_mode": "3_tai_cho", **common} for i in range(n_biz)]
    rng = random.Random(11)
    (lat0, lat1), (lon0, lon1) = D7
    sites = [{"id": s + 1, "business_id": f"B{s // 2:04d}", "name": f"{GATES[s % len(GATES)]} {s}",
              "name_en": f"Gate {s}", "address": "", "rules": [], "config_version": 3,
              "created_at": now, "lat": round(rng.uniform(lat0, lat1), 6),
              "lon": round(rng.uniform(lon0, lon1), 6)} for s in range(n_sites)]
    return biz, sites


def build_registry(engine, n_devices: int, demo: bool = False) -> list[tuple[str, int]]:
    """Businesses, sites and gates; returns [(device, site)]."""
    biz, sites = _registry_rows(n_devices, demo)
    n_sites = len(sites)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(Business), biz)
        conn.execute(insert(Site), sites)
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequence past them
            conn.execute(text("SELECT setval(pg_get_serial_sequence('site', 'id'), (SELECT max(id) FROM site))"))
        rng = random.Random(7)
        devices = []
        rows = []
        for d in range(n_devices):
            did = f"gg-{d:012x}"
            site = d % n_sites + 1
            devices.append((did, site))
            rows.append({"id": did, "site_id": site, "public_key": "00" * 32, "mqtt_username": did,
                         "mqtt_password_hash": "x", "firmware": rng.choice(("1.4.0", "1.4.1", "1.5.0")),
                         "status": "active", "online": rng.random() < 0.9, "last_seen": now,
                         "config_version": 3 if rng.random() < 0.97 else 2,
                         "revocation_version": 0, "trust_version": 1,
                         "outbox_depth": rng.choice((0, 0, 0, 2, 40, 900)),
                         "clock_drift_s": rng.gauss(0, 30), "tamper": False,
                         "registered_at": now, "registered_by": "bench"})
        conn.execute(insert(Device), rows)
    return devices


def pass_hash(k: int) -> str:
    """Pass k's hash: md5 of a fixed text, so PostgreSQL makes the same one
    (md5('gg-pass-' || k)) when it generates the scans itself."""
    return hashlib.md5(f"gg-pass-{k}".encode()).hexdigest()


def pass_hashes(n: int) -> list[str]:
    return [pass_hash(k) for k in range(n)]


# Which gate scans: the scans come in rounds of one scan per gate (a gate's
# sequence number is its round + 1, gap-free like a real gate's counter), each
# round in its own order k = (a * j + c) mod n for position j: a prime above
# any fleet size (so coprime with n), c moving with the round. Python and SQL
# compute the same gate for the same scan.
ROUND_PRIMES = (1_000_003, 1_000_033, 1_000_037, 1_000_039)
ROUND_SHIFT = 104_729


def gate_of(i: int, nd: int) -> tuple[int, int]:
    """(gate index, seq) of scan number i (0-based) in a fleet of nd gates."""
    r, j = divmod(i, nd)
    return (ROUND_PRIMES[r % len(ROUND_PRIMES)] * j + r * ROUND_SHIFT) % nd, r + 1


def scan_rows(devices: list[tuple[str, int]], n: int, days: int, seed: int = 1,
              end: int | None = None, hashes: list[str] | None = None):
    """Rows in receive order (ids grow with received_at, like real ingest),
    evenly spread over `days` up to `end`; 93 % accepted; 1 in 100 from a
    gate whose clock was not trusted (its time is a moment of 1 January 1970).
    load_scans_pg_sql makes the same shape inside PostgreSQL."""
    rng = random.Random(seed)
    end = int(time.time()) if end is None else end
    start = end - days * 86400
    step = (end - start) / n
    nd = len(devices)
    hashes = hashes or pass_hashes(200_000)
    for i in range(n):
        k, seq = gate_of(i, nd)
        did, site = devices[k]
        received = int(start + i * step)
        ok = rng.random() < 0.93
        valid = rng.random() >= 0.01
        yield (did, seq, site, received - rng.randrange(0, 5) if valid else rng.randrange(0, 86400),
               valid, hashes[rng.randrange(len(hashes))], ok, 0 if ok else rng.choice(DENY_REASONS),
               received)


def _secondary() -> list[str]:
    return [ix.name for ix in Scan.__table__.indexes]


def _unique_constraints() -> list:
    from sqlalchemy import UniqueConstraint

    return [c for c in Scan.__table__.constraints if isinstance(c, UniqueConstraint)]


# One chunk of scans made inside PostgreSQL: the shape of scan_rows (same gate
# and seq for scan i, same pass hashes, same shares), its own random stream.
_PG_SCANS = """
INSERT INTO scan (id, device_id, seq, site_id, time, time_valid, pass_hash, verdict, reason,
                  received_at)
SELECT :id0 + i + 1, 'gg-' || lpad(to_hex(k), 12, '0'), r + 1, k % :sites + 1,
       CASE WHEN valid THEN received - floor(random() * 5)::bigint
            ELSE floor(random() * 86400)::bigint END,
       valid, md5('gg-pass-' || floor(random() * :hashes)::bigint), ok,
       CASE WHEN ok THEN 0 ELSE (CAST(:reasons AS smallint[]))[1 + floor(random() * :n_reasons)::int] END,
       received
FROM (SELECT i, r, ((CAST(:primes AS bigint[]))[1 + r % :n_primes] * (i - r * :nd) + r * :shift) % :nd AS k,
             floor(:start + i * CAST(:step AS double precision))::bigint AS received,
             random() < 0.93 AS ok, random() >= 0.01 AS valid
      FROM (SELECT i, i / :nd AS r FROM generate_series(CAST(:lo AS bigint), :hi - 1) AS i) AS s
      OFFSET 0) AS g
"""


def load_scans_pg_sql(engine, n_devices: int, n_sites: int, n: int, days: int, end: int | None = None,
                      n_hashes: int = 200_000, workers: int = 2, unlogged: bool = False) -> int:
    """n scans generated by PostgreSQL itself (INSERT ... SELECT FROM
    generate_series: nothing crosses the socket), in `workers` connections
    over consecutive ranges of scans, with the scan table's secondary
    indexes and unique constraint dropped (ensure_indexes puts them back).
    unlogged: the table skips the write-ahead log (a throwaway test database;
    the benches keep it logged, like production)."""
    from concurrent.futures import ThreadPoolExecutor

    end = int(time.time()) if end is None else end
    start = end - days * 86400
    with engine.begin() as conn:
        for ix in _secondary():
            conn.execute(text(f"DROP INDEX IF EXISTS {ix}"))
        for uc in _unique_constraints():
            conn.execute(text(f"ALTER TABLE scan DROP CONSTRAINT IF EXISTS {uc.name}"))
        if unlogged:
            conn.execute(text("ALTER TABLE scan SET UNLOGGED"))
        id0 = conn.scalar(text("SELECT coalesce(max(id), 0) FROM scan"))
    params = {"id0": id0, "sites": n_sites, "hashes": n_hashes, "reasons": list(DENY_REASONS),
              "n_reasons": len(DENY_REASONS), "primes": list(ROUND_PRIMES), "n_primes": len(ROUND_PRIMES),
              "shift": ROUND_SHIFT, "nd": n_devices, "start": start, "step": (end - start) / max(n, 1)}
    bounds = [n * w // workers for w in range(workers + 1)]

    def chunk(w: int) -> None:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text("SET LOCAL jit = off"))
            conn.execute(text("SELECT setseed(:s)"), {"s": (w + 1) / (workers + 2)})
            conn.execute(text(_PG_SCANS), {**params, "lo": bounds[w], "hi": bounds[w + 1]})

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(chunk, range(workers)))
    with engine.begin() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('scan', 'id'), "
                          "(SELECT greatest(max(id), 1) FROM scan))"))
    log(f"  {n:,} scans made in PostgreSQL in {time.perf_counter() - t0:.1f} s ({workers} connections)")
    return n


def load_scans_sqlite(engine, rows) -> int:
    raw = engine.raw_connection()
    n = 0
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-1000000")
        for ix in _secondary():
            cur.execute(f"DROP INDEX IF EXISTS {ix}")
        sql = f"INSERT INTO scan ({', '.join(SCAN_COLS)}) VALUES ({', '.join('?' * len(SCAN_COLS))})"
        batch = []
        t0 = time.perf_counter()
        for n, row in enumerate(rows, 1):
            batch.append(row)
            if len(batch) == 200_000:
                cur.executemany(sql, batch)
                raw.commit()
                batch.clear()
                log(f"  {n:,} scans ({n / (time.perf_counter() - t0):,.0f}/s)")
        if batch:
            cur.executemany(sql, batch)
        raw.commit()
        cur.close()
    finally:
        raw.close()
    return n


def load_scans_pg(engine, rows) -> int:
    raw = engine.raw_connection()
    n = 0
    try:
        cur = raw.cursor()
        for ix in _secondary():
            cur.execute(f"DROP INDEX IF EXISTS {ix}")
        t0 = time.perf_counter()
        with cur.copy(f"COPY scan ({', '.join(SCAN_COLS)}) FROM STDIN") as copy:
            for n, row in enumerate(rows, 1):
                copy.write_row(row)
                if n % 1_000_000 == 0:
                    log(f"  {n:,} scans ({n / (time.perf_counter() - t0):,.0f}/s)")
        raw.commit()
        cur.close()
    finally:
        raw.close()
    return n


def ensure_indexes(engine) -> None:
    """(Re)create the scan table's secondary indexes and unique constraint
    (create_all skips those of a table that already exists; the loaders drop
    them) and refresh the planner statistics."""
    from sqlalchemy.schema import CreateIndex

    t0 = time.perf_counter()
    # IF NOT EXISTS, not checkfirst: SQLite cannot reflect expression indexes,
    # so checkfirst missed them and a reused database failed "already exists"
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            present = {r[0] for r in conn.execute(text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'scan'::regclass"))}
            for uc in _unique_constraints():
                if uc.name not in present:
                    cols = ", ".join(c.name for c in uc.columns)
                    conn.execute(text(f"ALTER TABLE scan ADD CONSTRAINT {uc.name} UNIQUE ({cols})"))
        for index in Scan.__table__.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
        conn.execute(text("ANALYZE"))
    log(f"  indexes + ANALYZE in {time.perf_counter() - t0:.1f} s")


def add_passes_and_audit(engine, hashes: list[str], n_passes: int, n_audit: int,
                         biz_ids: list[str], days: int) -> None:
    now = utcnow()
    rng = random.Random(5)
    with engine.begin() as conn:
        for i in range(0, n_passes, 50_000):
            conn.execute(insert(Pass), [
                {"pass_hash": hashes[k], "cti": f"{k:032x}", "iss": "HCM-D7", "role": k % 5,
                 "initials": "NVA", "birth_year": 1960 + k % 45,
                 "business_id": biz_ids[k % len(biz_ids)] if k % 5 == 1 else None,
                 "status": "active" if k % 50 else "revoked",
                 "issued_at": now - dt.timedelta(days=30 + k % 30),
                 "expires_at": now + dt.timedelta(days=(k % 120) - 20), "issued_by": "bench"}
                for k in range(i, min(n_passes, i + 50_000))])
        actions = ("business.approve", "site.config", "device.command", "pass.issue",
                   "revocation.add", "alert.ack")
        start = now - dt.timedelta(days=days)
        conn.execute(insert(AuditLog), [
            {"at": start + dt.timedelta(seconds=k * days * 86400 // max(1, n_audit)),
             "actor": rng.choice(("admin", "operator", "ops-2")), "action": actions[k % len(actions)],
             "target_type": "business", "target_id": biz_ids[k % len(biz_ids)], "detail": {"n": k}}
            for k in range(n_audit)])


def fill_rollup(engine) -> int:
    """Count the rollup from the scans: the finest grain by one GROUP BY over
    the scan table (rollup.backfill's statement), the coarser grains summed
    from it, as rollup.keys does at ingest (2 M rows read instead of 10 M
    three more times). Returns the finest grain's row count."""
    from sqlalchemy import delete, func, insert, select

    finest, *coarser = rollup.LEVELS
    hourly = finest.table.c
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # hash in memory, not spilled (default: 4 MB)
            conn.execute(text("SET LOCAL work_mem = '256MB'"))
        grains = [(finest, rollup._grouped(finest, None))]
        for level in coarser:
            bucket = (hourly.hour - hourly.hour % level.bucket).label(level.keys[0])
            cols = [bucket, *[hourly[k] for k in level.keys[1:]]]
            grains.append((level, select(*cols, func.sum(hourly["count"]).label("count")).group_by(*cols)))
        for level, grouped in grains:
            conn.execute(delete(level.table))
            g = grouped.subquery()
            # in key order (time first), as ingest appends them
            conn.execute(insert(level.table).from_select(
                [*level.keys, "count"], select(g).order_by(*[g.c[k] for k in level.keys])))
        return conn.scalar(select(func.count()).select_from(finest.table)) or 0


def build(url: str, n_devices: int, n_scans: int, days: int = 30, *, n_passes: int = 100_000,
          n_audit: int = 50_000, end: int | None = None, fresh: bool = True,
          demo: bool = False, in_database: bool | None = None,
          unlogged: bool = False) -> list[tuple[str, int]]:
    """Create the schema (PostgreSQL: a new public schema) and fill it.
    in_database (PostgreSQL only, the default there): PostgreSQL makes the
    scans itself (load_scans_pg_sql); otherwise Python makes them and COPY
    (PostgreSQL) or executemany (SQLite) loads them."""
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    if fresh and pg:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    t0 = time.perf_counter()
    devices = build_registry(engine, n_devices, demo)
    log(f"registry: {len(devices):,} devices in {time.perf_counter() - t0:.1f} s")
    hashes = pass_hashes(max(n_passes, 1000))
    with engine.connect() as conn:
        biz_ids = [b for (b,) in conn.execute(text("SELECT id FROM business ORDER BY id"))]
    add_passes_and_audit(engine, hashes, n_passes, n_audit, biz_ids, days)
    t0 = time.perf_counter()
    if n_scans and pg and in_database is not False:
        n_sites = len({site for _, site in devices})
        load_scans_pg_sql(engine, len(devices), n_sites, n_scans, days, end, len(hashes),
                          unlogged=unlogged)
    elif n_scans:
        load = load_scans_pg if pg else load_scans_sqlite
        load(engine, scan_rows(devices, n_scans, days, end=end, hashes=hashes))
    log(f"scans: {n_scans:,} in {time.perf_counter() - t0:.1f} s")
    ensure_indexes(engine)
    t0 = time.perf_counter()
    keys = fill_rollup(engine)
    log(f"rollup: {keys:,} counters in {time.perf_counter() - t0:.1f} s")
    engine.dispose()
    return devices


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="database URL (PostgreSQL: its public schema is recreated)")
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--scans", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--passes", type=int, default=100_000)
    ap.add_argument("--audit", type=int, default=50_000)
    ap.add_argument("--demo", action="store_true", help="the demo's District 7 businesses and sites")
    ap.add_argument("--python-rows", action="store_true",
                    help="PostgreSQL: make the scans in Python and COPY them (the old way)")
    ap.add_argument("--unlogged", action="store_true",
                    help="PostgreSQL: the scan table skips the write-ahead log (a throwaway database)")
    a = ap.parse_args()
    t0 = time.perf_counter()
    build(normalise_db_url(a.db), a.devices, a.scans, a.days, n_passes=a.passes, n_audit=a.audit,
          demo=a.demo, in_database=not a.python_rows, unlogged=a.unlogged)
    log(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
