"""Admissions and denials over a time range, per hour (or day), by reason,
by ward and by business, counted in the database from the hourly rollup
(table scan_hourly, kept on ingest by fleet.services.rollup): every fleet
process reads the same counters, nothing is cached in memory, and a range
of 30 days reads at most 720 hours x sites rows instead of the scans.

Hours are the scans' event time (the gate's clock when trusted, else the
receive time), the same time the scan lists filter on.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from fleet.models import Business, ScanHourly, Site
from fleet.services.rollup import HOUR, hour_of

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


def conditions(f: Filters, scope: str | None, start: int, end: int) -> list:
    conds = [ScanHourly.hour >= hour_of(start), ScanHourly.hour < end]
    sites = select(Site.id)
    if scope is not None:
        conds.append(ScanHourly.site_id.in_(sites.where(Site.business_id == scope)))
    if f.business:
        conds.append(ScanHourly.site_id.in_(sites.where(Site.business_id == f.business)))
    if f.ward:
        conds.append(ScanHourly.site_id.in_(sites.join(Business, Business.id == Site.business_id)
                                            .where(Business.ward == f.ward)))
    if f.site is not None:
        conds.append(ScanHourly.site_id == f.site)
    if f.verdict is not None:
        conds.append(ScanHourly.verdict.is_(f.verdict))
    if f.reason is not None:
        conds.append(ScanHourly.reason == f.reason)
    return conds


def _split():  # noqa: ANN202
    """sum(count) of accepted, of denied."""
    return (func.sum(case((ScanHourly.verdict, ScanHourly.count), else_=0)).label("acc"),
            func.sum(case((ScanHourly.verdict, 0), else_=ScanHourly.count)).label("den"))


def compute(db: Session, f: Filters, scope: str | None, tz: dt.tzinfo, default_hours: int = 24,
            now: float | None = None, top: int = 20) -> Analytics:
    now = time.time() if now is None else now
    end = f.until if f.until is not None else hour_of(int(now)) + HOUR
    start = f.since if f.since is not None else end - default_hours * HOUR
    if f.since is None and f.range == "all":  # from the first counted hour, at most MAX_SPAN_DAYS
        first = db.scalar(select(func.min(ScanHourly.hour)).where(ScanHourly.hour < end))
        start = max(first if first is not None else start, end - MAX_SPAN_DAYS * 86400)
    conds = conditions(f, scope, start, end)
    acc, den = _split()
    if end - start <= HOURLY_MAX:
        bucket, offset = HOUR, 0
    else:  # per local day: shift by the zone's offset so days start at local midnight
        bucket = 86400
        offset = int(dt.datetime.fromtimestamp(start, tz).utcoffset().total_seconds())
    b = (ScanHourly.hour + offset - (ScanHourly.hour + offset) % bucket - offset).label("b")
    rows = db.execute(select(b, acc, den).where(*conds).group_by(b)).all()
    got = {s: (a or 0, d or 0) for s, a, d in rows}
    first = hour_of(start) + offset - (hour_of(start) + offset) % bucket - offset
    series = [(s, *got.get(s, (0, 0))) for s in range(first, end, bucket)]
    by_reason = [(r, bool(v), n or 0) for r, v, n in db.execute(
        select(ScanHourly.reason, ScanHourly.verdict, func.sum(ScanHourly.count))
        .where(*conds).group_by(ScanHourly.reason, ScanHourly.verdict)
        .order_by(func.sum(ScanHourly.count).desc())).all()]
    site_biz = (select(ScanHourly.site_id.label("site_id"), acc, den).where(*conds)
                .group_by(ScanHourly.site_id).subquery())
    by_ward = [(w, a or 0, d or 0) for w, a, d in db.execute(
        select(Business.ward, func.sum(site_biz.c.acc), func.sum(site_biz.c.den))
        .join(Site, Site.id == site_biz.c.site_id).join(Business, Business.id == Site.business_id)
        .group_by(Business.ward).order_by(Business.ward)).all()]
    total = func.sum(site_biz.c.acc) + func.sum(site_biz.c.den)
    by_business = [(bid, name, a or 0, d or 0) for bid, name, a, d in db.execute(
        select(Business.id, Business.name, func.sum(site_biz.c.acc), func.sum(site_biz.c.den))
        .join(Site, Site.id == site_biz.c.site_id).join(Business, Business.id == Site.business_id)
        .group_by(Business.id, Business.name).order_by(total.desc(), Business.id).limit(top)).all()]
    return Analytics(start, end, bucket, series, by_reason, by_ward, by_business,
                     sum(a for _, a, _ in series), sum(d for _, _, d in series))


def last_hours(db: Session, scope: str | None, n_hours: int = 24, now: float | None = None) -> dict:
    """The overview tiles: accepted / denied over the last n hours."""
    now = time.time() if now is None else now
    end = hour_of(int(now)) + HOUR
    acc, den = _split()
    a, d = db.execute(select(acc, den).where(*conditions(Filters(), scope, end - n_hours * HOUR, end))).one()
    return {"accepted": a or 0, "denied": d or 0}
