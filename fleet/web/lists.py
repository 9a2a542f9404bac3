"""The filtered lists behind the dashboard pages and their CSV exports: scans
(and the live feed), passes, audit log, devices (alerts: alert_list.py). Each list is one SQLAlchemy
statement built from `listing.Filters`, so the page, the next page and the
CSV export show exactly the same rows.

Scans are ordered by event time (`SCAN_AT`: the gate's clock when trusted,
else the receive time) and id, on ix_scan_at_id / ix_scan_site_at_id /
ix_scan_reason_at_id (migration 0008): one page is an index range read
whatever the table size.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from sqlalchemy import (SmallInteger, String, Select, and_, case, column, false, func, literal, or_, select,
                        values)
from sqlalchemy.orm import Session

from fleet.models import SCAN_AT, AuditLog, Business, Device, Pass, Scan, Site
from fleet.services import pass_status, versions
from greengate.passes import reasons

from . import i18n, listing, localtime
from .listing import Filters
from .queries import like_escape

SCAN_FILTERS = ("range", "ward", "business", "site", "verdict", "reason", "q")
PASS_FILTERS = ("range", "ward", "business", "q")
AUDIT_FILTERS = ("range", "q", "action")
DEVICE_FILTERS = ("ward", "business", "site")


def wards(db: Session, scope: str | None) -> list[str]:
    q = select(Business.ward).distinct().order_by(Business.ward)
    if scope is not None:
        q = q.where(Business.id == scope)
    return [w for (w,) in db.execute(q) if w]


def reason_choices(lang: str) -> list[tuple[int, str]]:
    return sorted((code, f"{code} {name} – {i18n.reason_text(lang, code)}")
                  for name, code in reasons.table().items())


def _site_ids(scope: str | None, f: Filters) -> list[Select]:
    """Sub-selects of the site ids allowed by scope, business and ward (each
    must hold; none: no restriction)."""
    conds = []
    if scope is not None:
        conds.append(select(Site.id).where(Site.business_id == scope))
    if f.business:
        conds.append(select(Site.id).where(Site.business_id == f.business))
    if f.ward:
        conds.append(select(Site.id).join(Business, Business.id == Site.business_id)
                     .where(Business.ward == f.ward))
    return conds


FEW_SITES = 16  # up to this many sites, a scan page merges one index range per site


def few_sites(db: Session, f: Filters, scope: str | None) -> list[int] | None:
    """The sites of a business (the filter's or the manager's) when they are
    few and no ward or name search widens the set; else None."""
    business = f.business or scope
    if not business or f.ward or f.q or f.site is not None or (scope and f.business and scope != f.business):
        return None
    ids = list(db.scalars(select(Site.id).where(Site.business_id == business).order_by(Site.id)
                          .limit(FEW_SITES + 1)))
    return ids if len(ids) <= FEW_SITES else None


def scan_conditions(db: Session, f: Filters, scope: str | None) -> list:
    conds = []
    if f.since is not None:
        conds.append(SCAN_AT >= f.since)
    if f.until is not None:
        conds.append(SCAN_AT < f.until)
    for sub in _site_ids(scope, f):
        conds.append(Scan.site_id.in_(sub))
    if f.site is not None:
        conds.append(Scan.site_id == f.site)
    if f.verdict is not None:
        conds.append(Scan.verdict.is_(f.verdict))
    if f.reason is not None:
        conds.append(Scan.reason == f.reason)
    if f.q:
        sites, _ = listing.name_matches(db, f.q, scope)
        prefix = listing.hash_prefix(f.q)
        by_name = Scan.site_id.in_(sorted(sites)) if sites else None
        by_hash = and_(*listing.prefix_range(Scan.pass_hash, prefix)) if prefix else None
        parts = [c for c in (by_name, by_hash) if c is not None]
        conds.append(or_(*parts) if len(parts) > 1 else (parts[0] if parts else false()))
    return conds


def scans_select(db: Session, f: Filters, scope: str | None) -> Select:
    return (select(Scan.id, Scan.device_id, Scan.site_id, Site.name, Site.name_en, Business.id,
                   Business.name, Business.ward, Scan.pass_hash, Scan.verdict, Scan.reason,
                   Scan.time_valid, Scan.received_at)
            .outerjoin(Site, Site.id == Scan.site_id)
            .outerjoin(Business, Business.id == Site.business_id)
            .where(*scan_conditions(db, f, scope)))


SCAN_KEYS = (SCAN_AT, Scan.id)


def scan_page(db: Session, f: Filters, scope: str | None, lang: str, tz,  # noqa: ANN001
              per_page: int = listing.PER_PAGE) -> listing.Page:
    sites = few_sites(db, f, scope)
    branches = [Scan.site_id == s for s in sites] if sites else None
    if sites == []:  # a business with no site has no scans
        branches = None
    page = listing.keyset_page(db, scans_select(db, f, scope), SCAN_KEYS, f, per_page, branches=branches)
    page.rows = [scan_row(r, lang, tz) for r in page.rows]
    return page


def scan_row(r, lang: str, tz) -> dict:  # noqa: ANN001
    (sid, device, site_id, site_name, site_en, biz, biz_name, ward, h, ok, reason,
     valid, received, at, _id) = r
    return {"id": sid, "at": at, "time": localtime.fmt(at, tz), "clock_ok": valid,
            "device": device, "site_id": site_id,
            "site": (site_en if lang == "en" and site_en else site_name) or "",
            "business": biz or "", "business_name": biz_name or "", "ward": ward or "",
            "hash": h or "", "verdict": bool(ok), "reason": reason,
            "reason_name": i18n.reason_name(reason), "reason_text": i18n.reason_text(lang, reason)}


SCAN_CSV = (("Thời gian", "Time"), ("Giờ thiết bị tin cậy", "Device clock trusted"),
            ("Phường", "Ward"), ("Mã doanh nghiệp", "Business code"), ("Doanh nghiệp", "Business"),
            ("Mã địa điểm", "Site id"), ("Địa điểm", "Site"), ("Thiết bị", "Device"),
            ("Mã băm thẻ", "Pass hash"), ("Kết quả", "Verdict"), ("Mã lý do", "Reason code"),
            ("Lý do", "Reason"), ("Mã lượt quét", "Scan id"))


SCAN_CSV_TEXT = (2, 3, 4, 6)  # ward, business code and name, site name: typed by people


def scan_csv_rows(rows: Iterator, lang: str, tz) -> Iterator[tuple]:  # noqa: ANN001
    verdicts = (i18n.t(lang, "denied"), i18n.t(lang, "accepted"))
    texts: dict[int, tuple[str, str]] = {}
    last_at, last_time = None, ""
    for r in rows:
        (sid, device, site_id, site_name, site_en, biz, biz_name, ward, h, ok, reason,
         valid, received, at, _id) = r
        rt = texts.get(reason)
        if rt is None:
            rt = texts[reason] = (i18n.reason_name(reason), i18n.reason_text(lang, reason))
        if at != last_at:  # rows come in time order: many share their second
            last_at, last_time = at, localtime.fmt(at, tz)
        yield (last_time, 1 if valid else 0, ward or "", biz or "", biz_name or "",
               site_id if site_id is not None else "",
               (site_en if lang == "en" and site_en else site_name) or "", device, h or "",
               verdicts[1 if ok else 0], rt[0], rt[1], sid)


def scans_export_select(db: Session, f: Filters, scope: str | None) -> Select:
    return (scans_select(db, listing.without_cursor(f), scope).add_columns(*SCAN_KEYS)
            .order_by(*[k.desc() for k in SCAN_KEYS]))


# -- passes --------------------------------------------------------------------------

PASS_KEYS = (Pass.id, Pass.id)


def pass_conditions(db: Session, f: Filters, scope: str | None, now: dt.datetime) -> list:
    conds = []
    if scope is not None:
        conds.append(Pass.business_id == scope)
    if f.business:
        conds.append(Pass.business_id == f.business)
    if f.ward:
        conds.append(Pass.business_id.in_(select(Business.id).where(Business.ward == f.ward)))
    if f.since is not None:
        conds.append(Pass.issued_at >= dt.datetime.fromtimestamp(f.since, dt.timezone.utc))
    if f.until is not None:
        conds.append(Pass.issued_at < dt.datetime.fromtimestamp(f.until, dt.timezone.utc))
    if f.q:
        _, businesses = listing.name_matches(db, f.q, scope)
        prefix = listing.hash_prefix(f.q)
        parts = []
        if businesses:
            parts.append(Pass.business_id.in_(sorted(businesses)))
        if prefix:
            parts.append(and_(*listing.prefix_range(Pass.pass_hash, prefix)))
        conds.append(or_(*parts) if len(parts) > 1 else (parts[0] if parts else false()))
    return conds


def passes_select(db: Session, f: Filters, scope: str | None) -> Select:
    now = dt.datetime.now(dt.timezone.utc)
    # the status shown is computed (fleet/services/pass_status.py: expired, F0 ...)
    return (select(Pass, Business.name, pass_status.status_expr(now))
            .outerjoin(Business, Business.id == Pass.business_id)
            .where(*pass_conditions(db, f, scope, now)))


def pass_page(db: Session, f: Filters, scope: str | None,
              per_page: int = listing.PER_PAGE) -> listing.Page:
    # keyset on the id alone: (id, id) keeps the two-column cursor shape
    return listing.keyset_page(db, passes_select(db, f, scope), PASS_KEYS, f, per_page)


PASS_CSV = (("Mã băm thẻ", "Pass hash"), ("Đối tượng", "Role"), ("Chữ cái đầu", "Initials"),
            ("Mã doanh nghiệp", "Business code"), ("Doanh nghiệp", "Business"),
            ("Trạng thái", "Status"), ("Cấp lúc", "Issued"), ("Hết hạn", "Expires"))


def pass_csv_rows(rows: Iterator, lang: str, tz) -> Iterator[tuple]:  # noqa: ANN001
    for p, biz_name, shown, *_keys in rows:
        yield (p.pass_hash, i18n.t(lang, f"prole.{p.role}"), p.initials, p.business_id or "",
               biz_name or "", i18n.t(lang, f"pstatus.{shown}"),
               localtime.fmt(p.issued_at, tz),
               localtime.fmt(p.expires_at, tz))


def passes_export_select(db: Session, f: Filters, scope: str | None) -> Select:
    return passes_select(db, listing.without_cursor(f), scope).add_columns(*PASS_KEYS) \
        .order_by(Pass.id.desc())


# -- audit log ---------------------------------------------------------------------------

AUDIT_KEYS = (AuditLog.at, AuditLog.id)


def audit_conditions(f: Filters) -> list:
    conds = []
    if f.since is not None:
        conds.append(AuditLog.at >= dt.datetime.fromtimestamp(f.since, dt.timezone.utc))
    if f.until is not None:
        conds.append(AuditLog.at < dt.datetime.fromtimestamp(f.until, dt.timezone.utc))
    if f.action:
        conds.append(AuditLog.action == f.action)
    if f.q:
        like = listing_like(f.q)
        conds.append(or_(AuditLog.actor.like(like, escape="\\"),
                         AuditLog.target_id.like(like, escape="\\")))
    return conds


def listing_like(q: str) -> str:
    return like_escape(q) + "%"


def audit_select(f: Filters) -> Select:
    return select(AuditLog).where(*audit_conditions(f))


def audit_page(db: Session, f: Filters, per_page: int = listing.PER_PAGE) -> listing.Page:
    return listing.datetime_keyset_page(db, audit_select(f), AUDIT_KEYS, f, per_page)


AUDIT_CSV = (("Thời gian", "Time"), ("Người thực hiện", "By"), ("Thao tác", "Action"),
             ("Loại đối tượng", "Target type"), ("Đối tượng", "Target"), ("Chi tiết", "Detail"))


def audit_actions(db: Session) -> list[str]:
    return [a for (a,) in db.execute(select(AuditLog.action).distinct().order_by(AuditLog.action))]


def audit_csv_rows(rows: Iterator, tz) -> Iterator[tuple]:  # noqa: ANN001
    for a, *_keys in rows:
        yield (localtime.fmt(a.at, tz), a.actor, a.action, a.target_type,
               a.target_id, json.dumps(a.detail, ensure_ascii=False, sort_keys=True))


def audit_export_select(f: Filters) -> Select:
    return audit_select(listing.without_cursor(f)).add_columns(*AUDIT_KEYS) \
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())


# -- devices ---------------------------------------------------------------------------

DEVICE_CSV = (("Thiết bị", "Device"), ("Trạng thái", "Status"), ("Lần cuối", "Last seen"),
              ("Phường", "Ward"), ("Mã doanh nghiệp", "Business code"), ("Doanh nghiệp", "Business"),
              ("Mã địa điểm", "Site id"), ("Địa điểm", "Site"), ("Phần mềm", "Firmware"),
              ("Cấu hình", "Config"), ("DS thu hồi", "Revocations"), ("Hàng đợi", "Outbox"),
              ("Lệch giờ (giây)", "Clock drift (s)"))


def device_conditions(db: Session, f: Filters, scope: str | None) -> list:
    """Ward / site / name search on the overview's device list (its other
    filters live in queries._device_filters)."""
    conds = []
    if f.ward:
        conds.append(Device.site_id.in_(select(Site.id).join(Business, Business.id == Site.business_id)
                                        .where(Business.ward == f.ward)))
    if f.site is not None:
        conds.append(Device.site_id == f.site)
    return conds


def device_csv_rows(rows: Iterator, lang: str, tz, sessions) -> Iterator[tuple]:  # noqa: ANN001
    """Config and revocation columns carry list versions, as every page shows
    them (fleet/services/versions.py), looked up per batch of gates."""
    batch: list = []
    for row in rows:
        batch.append(row)
        if len(batch) == VERSION_BATCH:
            yield from _device_batch(batch, lang, tz, sessions)
            batch = []
    yield from _device_batch(batch, lang, tz, sessions)


VERSION_BATCH = 500


def _device_batch(batch: list, lang: str, tz, sessions) -> Iterator[tuple]:  # noqa: ANN001
    if not batch:
        return
    with sessions() as db:
        lv = versions.list_versions(db, [v for d, *_ in batch for v in (d.config_version, d.revocation_version)])
    for d, site_name, site_en, biz, biz_name, ward in batch:
        yield (d.id, i18n.t(lang, "online" if d.online else "offline"),
               localtime.fmt(d.last_seen, tz),
               ward or "", biz or "", biz_name or "", d.site_id if d.site_id is not None else "",
               (site_en if lang == "en" and site_en else site_name) or "", d.firmware or "",
               _v(lv.get(d.config_version)), _v(lv.get(d.revocation_version)),
               d.outbox_depth if d.outbox_depth is not None else "",
               round(d.clock_drift_s) if d.clock_drift_s is not None else "")


def _v(list_version: int | None) -> str:
    return "" if list_version is None else f"v{list_version}"


# -- scan export formatted by PostgreSQL (COPY ... TO STDOUT, FORMAT csv) -----------------

def _safe(col):  # noqa: ANN001, ANN202
    """The formula check of listing.cell, in SQL: a leading = + - @ tab CR gets a '."""
    return case((func.substr(col, 1, 1).in_(listing.FORMULA_START), literal("'") + col), else_=col)


def scans_copy_sql(db: Session, f: Filters, scope: str | None, lang: str, tz_key: str) -> tuple[str, dict]:
    """(COPY statement, its parameters): the export's rows formatted by
    PostgreSQL itself, the same text the Python path writes (scan_csv_rows),
    so a million rows stream at the database's speed."""
    table = [(code, i18n.reason_name(code), i18n.reason_text(lang, code)) for code in range(256)]
    r = values(column("code", SmallInteger), column("rname", String), column("rtext", String),
               name="reason_text").data(table)
    site_name = func.coalesce(func.nullif(Site.name_en, ""), Site.name) if lang == "en" else Site.name
    when = func.to_char(func.timezone(tz_key, func.to_timestamp(SCAN_AT)), "DD/MM/YYYY HH24:MI:SS")
    stmt = (select(when, case((Scan.time_valid, 1), else_=0), _safe(Business.ward), _safe(Business.id),
                   _safe(Business.name), Scan.site_id, _safe(site_name), Scan.device_id, Scan.pass_hash,
                   case((Scan.verdict, i18n.t(lang, "accepted")), else_=i18n.t(lang, "denied")),
                   r.c.rname, r.c.rtext, Scan.id)
            .outerjoin(Site, Site.id == Scan.site_id)
            .outerjoin(Business, Business.id == Site.business_id)
            .outerjoin(r, r.c.code == Scan.reason)
            .where(*scan_conditions(db, listing.without_cursor(f), scope))
            .order_by(*[k.desc() for k in SCAN_KEYS]))
    comp = stmt.compile(dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    return f"COPY ({comp}) TO STDOUT WITH (FORMAT csv)", dict(comp.params)
