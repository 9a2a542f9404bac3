"""Scan rollup (table scan_hourly): scans per (hour, site, verdict, reason).

Kept on ingest: `add` runs in the transaction that inserted the scans and
counts only the rows that were really inserted (a re-delivered batch adds
nothing). The upsert adds to the stored counter inside the database
(`count = scan_hourly.count + excluded.count`), so bridge workers in several
processes never lose each other's increments; keys are sorted so concurrent
PostgreSQL transactions lock counter rows in the same order (no deadlock).
SQLite serialises writers, the same statement is just as correct there.

`backfill` rebuilds the counters from the scan table (scans stored before
the rollup existed, or a repair): it locks out ingest while it runs so no
scan is counted twice or missed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fleet.models import NO_SITE, SCAN_AT, Scan, ScanHourly  # noqa: F401 (SCAN_AT: re-exported)

HOUR = 3600

# One statement with one array per column (as the scan insert): psycopg
# parses a huge multi-row VALUES much slower.
_PG_UPSERT = text(
    "INSERT INTO scan_hourly (hour, site_id, verdict, reason, count) "
    "SELECT * FROM unnest(CAST(:hour AS bigint[]), CAST(:site_id AS integer[]), "
    "CAST(:verdict AS boolean[]), CAST(:reason AS smallint[]), CAST(:count AS bigint[])) "
    "ON CONFLICT (hour, site_id, verdict, reason) "
    "DO UPDATE SET count = scan_hourly.count + excluded.count")


def hour_of(at: int) -> int:
    return at - at % HOUR


def keys(rows: Iterable[tuple]) -> Counter:
    """(site_id, time, time_valid, received_at, verdict, reason) of inserted
    scans -> Counter of (hour, site, verdict, reason)."""
    out: Counter = Counter()
    for site_id, t, valid, received, verdict, reason in rows:
        at = t if valid else received
        out[(hour_of(at), NO_SITE if site_id is None else site_id, bool(verdict), reason)] += 1
    return out


def add(db: Session, counts: Counter) -> None:
    """Add `counts` to the stored counters (same transaction as the scans)."""
    if not counts:
        return
    items = sorted(counts.items())
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        from fleet.services.scans import _pg_array
        cols = list(zip(*[(*k, n) for k, n in items]))
        conn.execute(_PG_UPSERT, {name: _pg_array(list(col)) for name, col in
                                  zip(("hour", "site_id", "verdict", "reason", "count"), cols)})
        return
    table = ScanHourly.__table__
    ins = sqlite.insert(table) if conn.dialect.name == "sqlite" else postgresql.insert(table)
    stmt = ins.on_conflict_do_update(
        index_elements=["hour", "site_id", "verdict", "reason"],
        set_={"count": table.c.count + ins.excluded["count"]})
    conn.execute(stmt, [{"hour": h, "site_id": s, "verdict": v, "reason": r, "count": n}
                        for (h, s, v, r), n in items])


def _grouped(since: int | None):  # noqa: ANN202
    hour = (SCAN_AT - SCAN_AT % HOUR).label("hour")
    site = func.coalesce(Scan.site_id, NO_SITE).label("site_id")
    q = select(hour, site, Scan.verdict, Scan.reason, func.count().label("count"))
    if since is not None:
        q = q.where(SCAN_AT >= hour_of(since))
    return q.group_by(hour, site, Scan.verdict, Scan.reason)


def backfill(db: Session, since: int | None = None) -> int:
    """Recount the rollup from `scan` (all of it, or the hours from `since`
    on) in one transaction that blocks ingest meanwhile; returns the number of
    counter rows written. The caller commits."""
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        # SHARE: waits for in-flight ingest transactions, blocks new inserts
        # until our commit; readers go on.
        conn.execute(text("LOCK TABLE scan IN SHARE MODE"))
        conn.execute(text("LOCK TABLE scan_hourly IN EXCLUSIVE MODE"))
    elif conn.dialect.name == "sqlite":
        # Take the write lock now (a deferred transaction would read first).
        conn.execute(text("DELETE FROM scan_hourly WHERE 0"))
    d = delete(ScanHourly)
    if since is not None:
        d = d.where(ScanHourly.hour >= hour_of(since))
    conn.execute(d)
    g = _grouped(since).subquery()
    conn.execute(insert(ScanHourly).from_select(
        ["hour", "site_id", "verdict", "reason", "count"],
        select(g.c.hour, g.c.site_id, g.c.verdict, g.c.reason, g.c.count)))
    q = select(func.count()).select_from(ScanHourly)
    if since is not None:
        q = q.where(ScanHourly.hour >= hour_of(since))
    return conn.scalar(q) or 0


def drift(db: Session) -> int:
    """Counter keys whose stored count differs from a GROUP BY over `scan`
    (0 when the rollup is right): the check behind `fleet rollup --check`."""
    g = _grouped(None).subquery()
    stored = {(h, s, bool(v), r): n for h, s, v, r, n in db.execute(
        select(ScanHourly.hour, ScanHourly.site_id, ScanHourly.verdict, ScanHourly.reason,
               ScanHourly.count)).all() if n}
    counted = {(h, s, bool(v), r): n for h, s, v, r, n in db.execute(select(g)).all()}
    return sum(1 for k in stored.keys() | counted.keys() if stored.get(k) != counted.get(k))
