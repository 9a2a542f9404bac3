"""Scan rollup: scans counted on ingest at four grains (fleet/models/rollup.py):
scan_hourly (hour, site, verdict, reason), scan_hourly_district (hour,
verdict, reason), scan_daily_site (UTC day, site, verdict) and
scan_daily_site_reason (UTC day, site, verdict, reason).

Kept on ingest: `add` runs in the transaction that inserted the scans and
counts only the rows that were really inserted (a re-delivered batch adds
nothing). The upserts add to the stored counters inside the database
(`count = table.count + excluded.count`), so bridge workers in several
processes never lose each other's increments; keys are sorted so concurrent
PostgreSQL transactions lock counter rows in the same order (no deadlock).
SQLite serialises writers, the same statements are just as correct there.

`backfill` rebuilds the counters from the scan table (scans stored before
the rollup existed, or a repair): it locks out ingest while it runs so no
scan is counted twice or missed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fleet.models import (NO_SITE, SCAN_AT, Scan, ScanDailySite, ScanDailySiteReason, ScanHourly,
                          ScanHourlyDistrict)

HOUR = 3600
DAY = 86400


def hour_of(at: int) -> int:
    return at - at % HOUR


def day_of(at: int) -> int:
    return at - at % DAY


@dataclass(frozen=True)
class Level:
    """One grain: its table, its key columns (the time bucket first) and the
    bucket length."""

    model: type
    keys: tuple[str, ...]
    bucket: int

    @property
    def table(self) -> Table:
        return self.model.__table__

    def of_hourly(self, hour: int, site: int, verdict: bool, reason: int) -> tuple:
        """This grain's key of a scan_hourly key."""
        values = {"site_id": site, "verdict": verdict, "reason": reason}
        return (hour - hour % self.bucket, *[values[k] for k in self.keys[1:]])


LEVELS = (Level(ScanHourly, ("hour", "site_id", "verdict", "reason"), HOUR),
          Level(ScanHourlyDistrict, ("hour", "verdict", "reason"), HOUR),
          Level(ScanDailySite, ("day", "site_id", "verdict"), DAY),
          Level(ScanDailySiteReason, ("day", "site_id", "verdict", "reason"), DAY))
_PG_TYPES = {"hour": "bigint", "day": "bigint", "site_id": "integer", "verdict": "boolean",
             "reason": "smallint", "count": "bigint"}


def keys(rows: Iterable[tuple]) -> list[Counter]:
    """(site_id, time, time_valid, received_at, verdict, reason) of inserted
    scans -> one Counter of keys per level. Rows are counted once at the
    finest grain; the coarser ones add up its (far fewer) keys."""
    hourly: Counter = Counter()
    for site_id, t, valid, received, verdict, reason in rows:
        at = t if valid else received
        hourly[(at - at % HOUR, NO_SITE if site_id is None else site_id, bool(verdict), reason)] += 1
    out = [hourly]
    for level in LEVELS[1:]:
        counter: Counter = Counter()
        for key, n in hourly.items():
            counter[level.of_hourly(*key)] += n
        out.append(counter)
    return out


def _pg_upsert(level: Level):  # noqa: ANN202
    """One statement with one array per column (as the scan insert): psycopg
    parses a huge multi-row VALUES much slower."""
    cols = (*level.keys, "count")
    arrays = ", ".join(f"CAST(:{c} AS {_PG_TYPES[c]}[])" for c in cols)
    name = level.table.name
    return text(f"INSERT INTO {name} ({', '.join(cols)}) SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT ({', '.join(level.keys)}) DO UPDATE SET count = {name}.count + excluded.count")


_PG_UPSERTS = {level.table.name: _pg_upsert(level) for level in LEVELS}


def add(db: Session, counts: list[Counter]) -> None:
    """Add each level's counts to its stored counters (same transaction as the scans)."""
    conn = db.connection()
    for level, counter in zip(LEVELS, counts):
        if not counter:
            continue
        items = sorted(counter.items())
        cols = (*level.keys, "count")
        if conn.dialect.name == "postgresql":
            from fleet.services.scans import _pg_array
            columns = list(zip(*[(*k, n) for k, n in items]))
            conn.execute(_PG_UPSERTS[level.table.name],
                         {c: _pg_array(list(col)) for c, col in zip(cols, columns)})
            continue
        ins = sqlite.insert(level.table) if conn.dialect.name == "sqlite" else postgresql.insert(level.table)
        stmt = ins.on_conflict_do_update(index_elements=list(level.keys),
                                         set_={"count": level.table.c.count + ins.excluded["count"]})
        conn.execute(stmt, [dict(zip(cols, (*k, n))) for k, n in items])


def _grouped(level: Level, since: int | None):  # noqa: ANN202
    bucket = (SCAN_AT - SCAN_AT % level.bucket).label(level.keys[0])
    exprs = {"site_id": func.coalesce(Scan.site_id, NO_SITE).label("site_id"),
             "verdict": Scan.verdict, "reason": Scan.reason}
    cols = [bucket, *[exprs[k] for k in level.keys[1:]]]
    q = select(*cols, func.count().label("count"))
    if since is not None:
        q = q.where(SCAN_AT >= since - since % level.bucket)
    return q.group_by(*cols)


def backfill(db: Session, since: int | None = None) -> int:
    """Recount every level from `scan` (all of it, or the buckets from
    `since` on) in one transaction that blocks ingest meanwhile; returns the
    number of scan_hourly rows written. The caller commits."""
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        # SHARE: waits for in-flight ingest transactions, blocks new inserts
        # until our commit; readers go on.
        conn.execute(text("LOCK TABLE scan IN SHARE MODE"))
    elif conn.dialect.name == "sqlite":
        # Take the write lock now (a deferred transaction would read first).
        conn.execute(text("DELETE FROM scan_hourly WHERE 0"))
    for level in LEVELS:
        first = level.table.c[level.keys[0]]
        d = delete(level.table)
        if since is not None:
            d = d.where(first >= since - since % level.bucket)
        conn.execute(d)
        g = _grouped(level, since).subquery()
        # in key order (time first), as ingest appends them: a range of hours is a range of pages
        conn.execute(insert(level.table).from_select(
            [*level.keys, "count"], select(g).order_by(*[g.c[k] for k in level.keys])))
    q = select(func.count()).select_from(ScanHourly)
    if since is not None:
        q = q.where(ScanHourly.hour >= hour_of(since))
    return conn.scalar(q) or 0


def drift(db: Session) -> int:
    """Counter keys, over every level, whose stored count differs from a
    GROUP BY over `scan` (0 when the rollup is right): `fleet rollup --check`."""
    bad = 0
    for level in LEVELS:
        cols = [level.table.c[k] for k in (*level.keys, "count")]
        stored = {tuple(r[:-1]): r[-1] for r in db.execute(select(*cols)).all() if r[-1]}
        counted = {tuple(r[:-1]): r[-1] for r in db.execute(_grouped(level, None)).all()}
        bad += sum(1 for k in stored.keys() | counted.keys() if stored.get(k) != counted.get(k))
    return bad
