"""Admissions and denials over a time range, per hour (or day), by reason,
by ward and by business, counted in the database from the rollup tables
kept on ingest (fleet.services.rollup): every fleet process reads the same
counters, nothing is cached in memory. District-wide series read
scan_hourly_district (hours x ~10 rows), per-site totals read
scan_daily_site (or scan_daily_site_reason for one reason) for whole days
and scan_hourly for the hours at the ends; one business or site reads
scan_hourly on its (site_id, hour) index.

Hours are the scans' event time (the gate's clock when trusted, else the
receive time), the same time the scan lists filter on.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import case, func, select, union_all
from sqlalchemy.orm import Session

from fleet.models import Business, ScanDailySite, ScanDailySiteReason, ScanHourly, ScanHourlyDistrict, Site
from fleet.services.rollup import DAY, HOUR, hour_of

from .listing import MAX_SPAN_DAYS, Filters

# Longest range drawn hour by hour; longer ones are drawn per local day.
HOURLY_MAX = 8 * 24 * HOUR


@dataclass
class Analytics:
    start: int
    end: int
    bucket: int
    series: list[tuple[int, int, int]]        # (bucket start, accepted, denied)
    by_reason: list[tuple[int, bool, int]]     # (reason, verdict, scans)
    by_ward: list[tuple[str, int, int]]        # (ward, accepted, denied)
    by_business: list[tuple[str, str, int, int]]  # (code, name, accepted, denied), busiest first
    accepted: int
    denied: int


def _site_sets(f: Filters, scope: str | None) -> list:
    """Sub-selects of the allowed site ids (scope, business, ward); each must hold."""
    sites = select(Site.id)
    out = []
    if scope is not None:
        out.append(sites.where(Site.business_id == scope))
    if f.business:
        out.append(sites.where(Site.business_id == f.business))
    if f.ward:
        out.append(sites.join(Business, Business.id == Site.business_id).where(Business.ward == f.ward))
    return out


def conditions(model, f: Filters, scope: str | None, start: int, end: int,  # noqa: ANN001
               bucket: str = "hour") -> list:
    """Filters on one rollup table (its time column `bucket`, [start, end))."""
    t = getattr(model, bucket)
    conds = [t >= start, t < end]
    if hasattr(model, "site_id"):
        conds += [model.site_id.in_(sub) for sub in _site_sets(f, scope)]
        if f.site is not None:
            conds.append(model.site_id == f.site)
    if f.verdict is not None:
        conds.append(model.verdict.is_(f.verdict))
    if f.reason is not None and hasattr(model, "reason"):
        conds.append(model.reason == f.reason)
    return conds


def _split(model):  # noqa: ANN001, ANN202
    """sum(count) of accepted, of denied."""
    return (func.sum(case((model.verdict, model.count), else_=0)).label("acc"),
            func.sum(case((model.verdict, 0), else_=model.count)).label("den"))


def _hourly_sites(f: Filters, scope: str | None, a: int, b: int, sign: int):  # noqa: ANN202
    acc, den = _split(ScanHourly)
    return (select(ScanHourly.site_id, (acc * sign).label("acc"), (den * sign).label("den"))
            .where(*conditions(ScanHourly, f, scope, a, b)).group_by(ScanHourly.site_id))


def _edges(start: int, end: int) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Whole UTC days [d0, d1) read from scan_daily_site, and the hour ranges
    to add (+1) or take away (-1) so the sum covers exactly [start, end):
    each end takes the shorter of the two, at most 12 hours of scan_hourly."""
    d0, d1 = start - start % DAY, -(-end // DAY) * DAY
    edges = []
    if start - d0 <= DAY // 2:
        edges.append((d0, start, -1))
    else:
        d0 += DAY
        edges.append((start, d0, 1))
    if d1 - end <= DAY // 2:
        edges.append((end, d1, -1))
    else:
        d1 -= DAY
        edges.append((d1, end, 1))
    return d0, d1, [(a, b, sign) for a, b, sign in edges if a < b]


def site_totals(db: Session, f: Filters, scope: str | None, start: int, end: int,
                daily: bool) -> dict[int, tuple[int, int]]:
    """Accepted / denied per site over [start, end). `daily`: whole days
    from scan_daily_site (scan_daily_site_reason for one reason) and at most
    12 hours at each end from scan_hourly (district or ward views); else all
    of it from scan_hourly (one business or site: few rows)."""
    parts = []
    d0, d1, edges = _edges(start, end) if daily else (0, 0, [])
    if daily and d0 < d1:
        day = ScanDailySiteReason if f.reason is not None else ScanDailySite
        acc, den = _split(day)
        parts.append(select(day.site_id, acc, den)
                     .where(*conditions(day, f, scope, d0, d1, "day"))
                     .group_by(day.site_id))
        parts += [_hourly_sites(f, scope, a, b, sign) for a, b, sign in edges]
    else:
        parts.append(_hourly_sites(f, scope, start, end, 1))
    u = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    rows = db.execute(select(u.c.site_id, func.sum(u.c.acc), func.sum(u.c.den)).group_by(u.c.site_id))
    return {site: (int(a or 0), int(d or 0)) for site, a, d in rows if (a or d)}


def _by_place(db: Session, totals: dict[int, tuple[int, int]], top: int):  # noqa: ANN202
    """(by ward, busiest businesses) from per-site totals and the registry."""
    wards: dict[str, list[int]] = {}
    businesses: dict[str, list] = {}
    for site, bid, name, ward in db.execute(
            select(Site.id, Business.id, Business.name, Business.ward)
            .join(Business, Business.id == Site.business_id)):
        got = totals.get(site)
        if got is None:
            continue
        w = wards.setdefault(ward, [0, 0])
        b = businesses.setdefault(bid, [bid, name, 0, 0])
        w[0] += got[0]
        w[1] += got[1]
        b[2] += got[0]
        b[3] += got[1]
    by_ward = [(w, a, d) for w, (a, d) in sorted(wards.items())]
    by_business = sorted((tuple(v) for v in businesses.values()), key=lambda v: (-(v[2] + v[3]), v[0]))
    return by_ward, by_business[:top]


def compute(db: Session, f: Filters, scope: str | None, tz: dt.tzinfo, default_hours: int = 24,
            now: float | None = None, top: int = 20) -> Analytics:
    now = time.time() if now is None else now
    end = f.until if f.until is not None else hour_of(int(now)) + HOUR
    start = f.since if f.since is not None else end - default_hours * HOUR
    if f.since is None and f.range == "all":  # from the first counted hour, at most MAX_SPAN_DAYS
        first = db.scalar(select(func.min(ScanHourlyDistrict.hour)).where(ScanHourlyDistrict.hour < end))
        start = max(first if first is not None else start, end - MAX_SPAN_DAYS * 86400)
    start = hour_of(start)
    site_filter = scope is not None or bool(f.business or f.ward) or f.site is not None
    # district-wide: the district grain (no site column); else the site grain on its (site_id, hour) index
    hourly = ScanHourly if site_filter else ScanHourlyDistrict
    if end - start <= HOURLY_MAX:
        bucket, offset = HOUR, 0
    else:  # per local day: shift by the zone's offset so days start at local midnight
        bucket = 86400
        offset = int(dt.datetime.fromtimestamp(start, tz).utcoffset().total_seconds())
    b = (hourly.hour + offset - (hourly.hour + offset) % bucket - offset).label("b")
    # one read for the series and the reasons: (bucket, verdict, reason) -> scans
    got: dict[int, list[int]] = {}
    reasons: dict[tuple[int, bool], int] = {}
    for start_b, verdict, reason, n in db.execute(
            select(b, hourly.verdict, hourly.reason, func.sum(hourly.count))
            .where(*conditions(hourly, f, scope, start, end)).group_by(b, hourly.verdict, hourly.reason)):
        n = int(n or 0)  # PostgreSQL sums are Decimal
        got.setdefault(start_b, [0, 0])[0 if verdict else 1] += n
        reasons[(reason, bool(verdict))] = reasons.get((reason, bool(verdict)), 0) + n
    first = start + offset - (start + offset) % bucket - offset
    series = [(s, *got.get(s, (0, 0))) for s in range(first, end, bucket)]
    by_reason = sorted(((r, v, n) for (r, v), n in reasons.items() if n), key=lambda x: (-x[2], x[0]))
    # whole days serve a ward or the district; one business or site reads its few hourly rows
    few = scope is not None or bool(f.business) or f.site is not None
    totals = site_totals(db, f, scope, start, end, daily=not few)
    by_ward, by_business = _by_place(db, totals, top)
    return Analytics(start, end, bucket, series, by_reason, by_ward, by_business,
                     sum(a for _, a, _ in series), sum(d for _, _, d in series))


def last_hours(db: Session, scope: str | None, n_hours: int = 24, now: float | None = None) -> dict:
    """The overview tiles: accepted / denied over the last n hours."""
    now = time.time() if now is None else now
    end = hour_of(int(now)) + HOUR
    model = ScanHourly if scope is not None else ScanHourlyDistrict
    acc, den = _split(model)
    a, d = db.execute(select(acc, den).where(
        *conditions(model, Filters(), scope, end - n_hours * HOUR, end))).one()
    return {"accepted": int(a or 0), "denied": int(d or 0)}
