"""Read-only queries behind the dashboard pages, written to stay fast with
10,000 devices and 10,000,000 scans: every list is paginated or limited and
walks an index; charts read the hourly rollup (fleet/web/analytics.py)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from fleet.broker_bridge import topics
from fleet.core.config import Settings
from fleet.models import Alert, Business, ControlOutbox, Device, Scan, Site
from fleet.services import control, versions

from . import localtime

PER_PAGE = 50


@dataclass
class DeviceRow:
    device: Device
    site_name: str | None
    business_id: str | None
    business_name: str | None
    ward: str | None
    config: versions.ListState       # list versions (fleet/services/versions.py)
    revocation: versions.ListState
    clock_alert: bool
    outbox_alert: bool

    @property
    def config_drift(self) -> bool:
        return self.config.drift

    @property
    def revocation_drift(self) -> bool:
        return self.revocation.drift


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
    lists = versions.for_devices(db, [r[0] for r in rows], {r[0].id: r[3] for r in rows})
    out = []
    for device, site_name, business_id, _desired, business_name, ward in rows:
        out.append(DeviceRow(
            device=device, site_name=site_name, business_id=business_id,
            business_name=business_name, ward=ward,
            config=lists[device.id]["config"], revocation=lists[device.id]["revocation"],
            clock_alert=device.clock_drift_s is not None
            and abs(device.clock_drift_s) > settings.clock_drift_alert_s,
            outbox_alert=(device.outbox_depth or 0) > settings.outbox_alert_depth))
    return {"rows": out, "total": total, "page": page, "pages": pages,
            "revocation": versions.current_revocation(db)}


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
            "open_alerts": db.scalar(aq) or 0}


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


# site id -> (business code, business name, site name, site English name)
Place = tuple[str, str, str, str | None]


def place_names(db: Session, site_ids, known: dict[int, Place] | None = None) -> dict[int, Place]:
    """Names to show beside the feed's codes: one query for the site ids not in
    `known` yet (a stream keeps its dict: each site is read once per stream,
    never once per event). `known` is filled in and returned."""
    known = {} if known is None else known
    missing = sorted({i for i in site_ids if i is not None and i not in known})
    if missing:
        stmt = (select(Site.id, Business.id, Business.name, Site.name, Site.name_en)
                .join(Business, Business.id == Site.business_id).where(Site.id.in_(missing)))
        for sid, bid, bname, sname, sname_en in db.execute(stmt):
            known[sid] = (bid, bname or "", sname or "", sname_en)
    return known


def scan_event(scan: Scan, lang: str, tz: ZoneInfo | None = None,
               places: dict[int, Place] | None = None) -> dict:
    """What the live feed may show: no person's name, no ID numbers, only a
    pass-hash prefix, the verdict and the reason, with the business and site
    names beside their codes (`places`: place_names). Time in the page's zone
    (local time)."""
    from . import i18n

    at = scan.time if scan.time_valid else scan.received_at
    biz, biz_name, site_name, site_en = (places or {}).get(scan.site_id) or ("", "", "", None)
    return {"id": scan.id, "time": localtime.fmt(at, tz or localtime.zone(localtime.DEFAULT_ZONE)),
            "device": scan.device_id, "site": scan.site_id,
            "business": biz, "business_name": biz_name,
            "site_name": (site_en if lang == "en" and site_en else site_name) or "",
            "hash": (scan.pass_hash or "")[:8], "verdict": bool(scan.verdict),
            "reason": i18n.reason_name(scan.reason), "text": i18n.reason_text(lang, scan.reason)}
