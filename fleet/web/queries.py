"""Read-only queries behind the dashboard pages, written to stay fast with
10,000 devices and 10,000,000 scans: every list is paginated or limited and
walks an index; charts read hourly per-site counters (see HourlyCounts)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Integer, and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from fleet.broker_bridge import topics
from fleet.core.config import Settings
from fleet.models import Alert, Business, ControlOutbox, Device, Scan, Site
from fleet.services import control

PER_PAGE = 50


@dataclass
class DeviceRow:
    device: Device
    site_name: str | None
    business_id: str | None
    business_name: str | None
    ward: str | None
    desired_config: int | None
    config_drift: bool
    revocation_drift: bool
    clock_alert: bool
    outbox_alert: bool


def _desired_config():  # noqa: ANN202
    """Per device topic, the version (control outbox id) of the newest
    configuration published to it: what the gate should report as applied.
    Same rule as the drift alerts (fleet/services/alerts.py)."""
    return (select(ControlOutbox.topic.label("topic"), func.max(ControlOutbox.id).label("version"))
            .where(ControlOutbox.kind == "config", ControlOutbox.published_at.is_not(None))
            .group_by(ControlOutbox.topic).subquery())


def _with_desired(query, desired):  # noqa: ANN001, ANN202
    topic = literal(topics.config("")[: -len("/config")]) + Device.id + literal("/config")
    return query.outerjoin(desired, desired.c.topic == topic)


def _revocation_desired(db: Session) -> int:
    return control.desired_version(db, topics.REVOCATION) or 0


def _device_filters(scope: str | None, business: str | None, q: str | None,
                    state: str | None, drift_only: bool, rev: int, desired) -> list:  # noqa: ANN001
    conds = []
    if scope is not None:
        conds.append(Site.business_id == scope)
    if business:
        conds.append(Site.business_id == business)
    if q:
        # Prefix match walks the primary key index; LIKE wildcards in input are escaped.
        conds.append(Device.id.like(like_escape(q) + "%", escape="\\"))
    if state == "online":
        conds.append(Device.online.is_(True))
    elif state == "offline":
        conds.append(Device.online.is_(False))
    if drift_only:
        conds.append(_drift_expr(rev, desired))
    return conds


def like_escape(text: str) -> str:
    """User text inside a LIKE pattern matches literally (escape character \\)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _drift_expr(rev: int, desired):  # noqa: ANN001, ANN202
    return or_(and_(desired.c.version.is_not(None),
                    func.coalesce(Device.config_version, 0) < desired.c.version),
               and_(rev > 0, func.coalesce(Device.revocation_version, 0) < rev))


def device_search(db: Session, q: str, scope: str | None):  # noqa: ANN201
    """Device id prefix, or the gate's site / business name (no diacritics
    or case needed: fleet.web.listing.name_matches)."""
    from .listing import name_matches

    sites, _ = name_matches(db, q, scope)
    by_id = Device.id.like(like_escape(q) + "%", escape="\\")
    return or_(by_id, Device.site_id.in_(sorted(sites))) if sites else by_id


def device_export_select(db: Session, *, scope: str | None, business: str | None, state: str | None,
                         drift_only: bool, extra: list = ()):  # noqa: ANN201
    """The overview's filtered device list, every row, for the CSV export."""
    rev = _revocation_desired(db)
    desired_q = _desired_config()
    conds = _device_filters(scope, business, None, state, drift_only, rev, desired_q)
    return (_with_desired(select(Device, Site.name, Site.name_en, Business.id, Business.name, Business.ward)
                          .outerjoin(Site, Device.site_id == Site.id)
                          .outerjoin(Business, Business.id == Site.business_id), desired_q)
            .where(Device.status == "active", *conds, *extra).order_by(Device.id))


def fleet_overview(db: Session, settings: Settings, *, scope: str | None, business: str | None,
                   q: str | None, state: str | None, drift_only: bool, page: int,
                   per_page: int = PER_PAGE, extra: list = ()) -> dict:
    rev = _revocation_desired(db)
    desired_q = _desired_config()
    conds = [*_device_filters(scope, business, q, state, drift_only, rev, desired_q), *extra]
    base = _with_desired(select(Device, Site.name, Site.business_id, desired_q.c.version,
                                Business.name, Business.ward)
                         .outerjoin(Site, Device.site_id == Site.id)
                         .outerjoin(Business, Business.id == Site.business_id), desired_q) \
        .where(Device.status == "active", *conds)
    total = db.scalar(_with_desired(select(func.count()).select_from(Device)
                                    .outerjoin(Site, Device.site_id == Site.id), desired_q)
                      .where(Device.status == "active", *conds)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.execute(base.order_by(Device.id).offset((page - 1) * per_page).limit(per_page)).all()
    out = []
    for device, site_name, business_id, desired, business_name, ward in rows:
        out.append(DeviceRow(
            device=device, site_name=site_name, business_id=business_id,
            business_name=business_name, ward=ward, desired_config=desired,
            config_drift=desired is not None and (device.config_version or 0) < desired,
            revocation_drift=rev > 0 and (device.revocation_version or 0) < rev,
            clock_alert=device.clock_drift_s is not None
            and abs(device.clock_drift_s) > settings.clock_drift_alert_s,
            outbox_alert=(device.outbox_depth or 0) > settings.outbox_alert_depth))
    return {"rows": out, "total": total, "page": page, "pages": pages, "revocation_version": rev}


def fleet_summary(db: Session, scope: str | None) -> dict:
    rev = _revocation_desired(db)
    desired_q = _desired_config()
    scoped = [Device.status == "active"]
    if scope is not None:
        scoped.append(Site.business_id == scope)
    row = db.execute(_with_desired(
        select(func.count(),
               func.sum(cast(Device.online, Integer)),
               func.sum(cast(_drift_expr(rev, desired_q), Integer)))
        .select_from(Device).outerjoin(Site, Device.site_id == Site.id), desired_q)
        .where(*scoped)).one()
    total, online, drift = row[0] or 0, row[1] or 0, row[2] or 0
    aq = select(func.count()).select_from(Alert).where(Alert.acknowledged_at.is_(None))
    if scope is not None:
        aq = aq.where(Alert.business_id == scope)
    return {"total": total, "online": online, "offline": total - online, "drift": drift,
            "open_alerts": db.scalar(aq) or 0, "revocation_version": rev}


# -- scans ---------------------------------------------------------------------

def _scope_scans(q, scope: str | None):  # noqa: ANN001, ANN202
    if scope is not None:
        q = q.where(Scan.site_id.in_(select(Site.id).where(Site.business_id == scope)))
    return q


def latest_scans(db: Session, scope: str | None, limit: int = 50, conds: list = ()) -> list[Scan]:
    return list(db.scalars(_scope_scans(select(Scan).where(*conds), scope)
                           .order_by(Scan.id.desc()).limit(limit)))


def scans_after(db: Session, scope: str | None, after_id: int, limit: int = 100,
                conds: list = ()) -> list[Scan]:
    q = _scope_scans(select(Scan).where(Scan.id > after_id, *conds), scope)
    return list(db.scalars(q.order_by(Scan.id).limit(limit)))


def max_scan_id(db: Session) -> int:
    return db.scalar(select(func.max(Scan.id))) or 0


def scan_event(scan: Scan, lang: str) -> dict:
    """What the live feed may show: no names, no ID numbers, only a pass-hash
    prefix, the verdict and the reason."""
    from . import i18n

    at = scan.time if scan.time_valid else scan.received_at
    return {"id": scan.id, "time": dt.datetime.fromtimestamp(at, dt.timezone.utc)
            .strftime("%Y-%m-%d %H:%M:%S"),
            "device": scan.device_id, "site": scan.site_id,
            "hash": (scan.pass_hash or "")[:8], "verdict": bool(scan.verdict),
            "reason": i18n.reason_name(scan.reason), "text": i18n.reason_text(lang, scan.reason)}


class HourlyCounts:
    """Accepted/denied counts per (hour, site), by the fleet's receive time.

    Completed hours never change (received_at is the fleet clock at ingest),
    so each one is counted once through ix_scan_received_at and kept in memory;
    the current hour is recounted at most every `fresh_s` seconds (the live
    feed is the real-time view; tiles and charts may lag that much). This is
    the dashboard's pre-aggregation without a schema change (docs/dashboard.md)."""

    GRACE_S = 120  # an ingest transaction may commit a little after received_at

    def __init__(self, max_hours: int = 24 * 32, fresh_s: float = 3.0) -> None:
        self._lock = threading.Lock()
        self._done: dict[tuple[str, int], dict[int, tuple[int, int]]] = {}
        self._recent: dict[tuple[str, int], tuple[float, dict[int, tuple[int, int]]]] = {}
        self.max_hours = max_hours
        self.fresh_s = fresh_s

    def _count(self, db: Session, start: int) -> dict[int, tuple[int, int]]:
        rows = db.execute(
            select(Scan.site_id, Scan.verdict, func.count())
            .where(Scan.received_at >= start, Scan.received_at < start + 3600)
            .group_by(Scan.site_id, Scan.verdict)).all()
        out: dict[int, list[int]] = {}
        for site_id, verdict, n in rows:
            acc = out.setdefault(site_id if site_id is not None else -1, [0, 0])
            acc[0 if verdict else 1] += n
        return {k: (v[0], v[1]) for k, v in out.items()}

    def hours(self, db: Session, n_hours: int, now: float | None = None) -> list[tuple[int, dict]]:
        now = time.time() if now is None else now
        current = int(now) - int(now) % 3600
        key = str(db.get_bind().url)
        out = []
        for i in range(n_hours - 1, -1, -1):
            start = current - i * 3600
            complete = start + 3600 + self.GRACE_S <= now
            with self._lock:
                cached = self._done.get((key, start))
                recent = self._recent.get((key, start))
            if cached is None and not complete and recent is not None \
                    and time.monotonic() - recent[0] < self.fresh_s:
                cached = recent[1]
            if cached is None:
                cached = self._count(db, start)
                with self._lock:
                    if complete:
                        self._done[(key, start)] = cached
                    else:
                        self._recent[(key, start)] = (time.monotonic(), cached)
                    self._trim(current)
            out.append((start, cached))
        return out

    def _trim(self, current: int) -> None:
        oldest = current - self.max_hours * 3600
        for k in [k for k in self._done if k[1] < oldest]:
            del self._done[k]
        for k in [k for k in self._recent if k[1] < current]:
            del self._recent[k]

    def clear(self) -> None:
        with self._lock:
            self._done.clear()
            self._recent.clear()


HOURLY = HourlyCounts()


def site_business_map(db: Session) -> dict[int, str]:
    return dict(db.execute(select(Site.id, Site.business_id)).all())


_HOURLY_VIEWS: dict[tuple[str, str | None, int], tuple[float, dict]] = {}
_HOURLY_VIEWS_LOCK = threading.Lock()


def fleet_hourly(db: Session, scope: str | None, n_hours: int = 24) -> dict:
    """Per-hour totals and per-business totals + per-hour series, reused for
    HOURLY.fresh_s seconds (the same freshness as the current-hour count)."""
    key = (str(db.get_bind().url), scope, n_hours)
    with _HOURLY_VIEWS_LOCK:
        hit = _HOURLY_VIEWS.get(key)
    if hit is not None and time.monotonic() - hit[0] < HOURLY.fresh_s:
        return hit[1]
    view = _fleet_hourly(db, scope, n_hours)
    with _HOURLY_VIEWS_LOCK:
        if len(_HOURLY_VIEWS) > 1000:
            _HOURLY_VIEWS.clear()
        _HOURLY_VIEWS[key] = (time.monotonic(), view)
    return view


def _fleet_hourly(db: Session, scope: str | None, n_hours: int) -> dict:
    site_biz = site_business_map(db)
    series = []
    per_business: dict[str, list] = {}
    for idx, (start, counts) in enumerate(HOURLY.hours(db, n_hours)):
        acc = den = 0
        for site_id, (a, d) in counts.items():
            biz = site_biz.get(site_id)
            if scope is not None and biz != scope:
                continue
            acc += a
            den += d
            if biz is not None:
                entry = per_business.setdefault(biz, [0, 0, [0] * n_hours, [0] * n_hours])
                entry[0] += a
                entry[1] += d
                entry[2][idx] += a
                entry[3][idx] += d
        series.append((start, acc, den))
    return {"series": series, "per_business": per_business}


def business_series(db: Session, business_id: str, hours: int, bucket: int,
                    now: float | None = None) -> list[tuple[int, int, int]]:
    """Accepted/denied per bucket for one business by device time, through
    ix_scan_site_id_time (a business has few sites, so this is a small range)."""
    now = int(time.time() if now is None else now)
    end = now - now % bucket + bucket
    since = end - hours * 3600
    site_ids = select(Site.id).where(Site.business_id == business_id)
    b = (Scan.time - Scan.time % bucket).label("b")
    rows = db.execute(select(b, Scan.verdict, func.count())
                      .where(Scan.site_id.in_(site_ids), Scan.time >= since, Scan.time < end)
                      .group_by(b, Scan.verdict)).all()
    buckets = {start: [0, 0] for start in range(since, end, bucket)}
    for start, verdict, n in rows:
        if start in buckets:
            buckets[start][0 if verdict else 1] += n
    return [(s, v[0], v[1]) for s, v in sorted(buckets.items())]
