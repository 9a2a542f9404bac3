"""The alerts page's list on the shared listing layer (fleet/web/listing.py):
its time range (local time) and search, plus the alerts' own state,
severity and kind; newest last seen first, keyset pages on (last_seen_at,
id) (ix_alert_last_seen_at_id, or the open groups' partial index); the CSV
export streams the same statement."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import tzinfo

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from fleet.models import Alert, Business, Device, Site
from fleet.services import alerts as alert_svc

from . import listing, localtime
from .listing import Filters

STATES = ("open", "acked", "all")
FILTERS = ("range", "business", "q")
KEYS = (Alert.last_seen_at, Alert.id)
DEVICE_PREFIX = re.compile(r"^gg-[0-9a-f]{0,12}$")


def _choice(params, name: str, allowed: tuple[str, ...], default: str = "") -> str:  # noqa: ANN001
    value = (params.get(name) or "").strip() or default
    if value and value not in allowed:
        raise listing.bad(name, "chọn " + ", ".join(allowed), "choose " + ", ".join(allowed))
    return value


def parse(params, tz: tzinfo, now: float | None = None) -> Filters:  # noqa: ANN001
    """listing's range and search, with state (open by default), severity
    and kind carried in `extra` (so they stay in page links and the CSV URL)."""
    f = listing.parse_filters(params, tz, allowed=FILTERS, now=now)
    state = _choice(params, "state", STATES, "open")
    return replace(f, extra={"state": "" if state == "open" else state,
                             "severity": _choice(params, "severity", alert_svc.SEVERITIES),
                             "kind": _choice(params, "kind", alert_svc.KINDS)})


def state(f: Filters) -> str:
    return f.extra.get("state") or "open"


def _search(db: Session, q: str, scope: str | None):  # noqa: ANN202 (a SQL condition)
    """What was typed, each on an index: a device id or its start, a pass
    hash start (4+ hex digits), an alert kind by its start ("revoked"), a
    business by code or name (listing.name_matches: no diacritics or case
    needed)."""
    ql = q.lower()
    parts = []
    kinds = [k for k in alert_svc.KINDS if len(ql) >= 3 and k.lower().startswith(ql.replace(" ", "_"))]
    if kinds:
        parts.append(Alert.kind.in_(kinds))
    if DEVICE_PREFIX.match(ql):  # "gg-" + hex: an index range ("g" sorts after every hex digit)
        parts.append(and_(Alert.device_id >= ql, Alert.device_id < ql + "g"))
    prefix = listing.hash_prefix(ql)
    if prefix:
        parts.append(and_(*listing.prefix_range(Alert.pass_hash, prefix)))
    _, businesses = listing.name_matches(db, q, scope)
    if businesses:
        parts.append(Alert.business_id.in_(sorted(businesses)))
    return or_(*parts) if parts else false()


def conditions(db: Session, f: Filters, scope: str | None) -> list:
    conds = []
    if scope is not None:
        conds.append(Alert.business_id == scope)
    if f.business:
        conds.append(Alert.business_id == f.business)
    if state(f) == "open":
        conds.append(Alert.acknowledged_at.is_(None))
    elif state(f) == "acked":
        conds.append(Alert.acknowledged_at.is_not(None))
    if f.extra.get("severity"):
        conds.append(Alert.severity == f.extra["severity"])
    if f.extra.get("kind"):
        conds.append(Alert.kind == f.extra["kind"])
    # a group is in the range when it was seen in it
    if f.since is not None:
        conds.append(Alert.last_seen_at >= dt.datetime.fromtimestamp(f.since, dt.timezone.utc))
    if f.until is not None:
        conds.append(Alert.created_at < dt.datetime.fromtimestamp(f.until, dt.timezone.utc))
    if f.q:
        conds.append(_search(db, f.q, scope))
    return conds


@dataclass
class AlertPage:
    page: listing.Page
    open_by_severity: dict[str, int]
    business_names: dict[str, str]  # shown beside the codes


def page(db: Session, f: Filters, scope: str | None) -> AlertPage:
    pg = listing.datetime_keyset_page(db, select(Alert).where(*conditions(db, f, scope)), KEYS, f)
    pg.rows = [a for a, *_k in pg.rows]
    open_conds = [Alert.acknowledged_at.is_(None)] + ([Alert.business_id == scope] if scope else [])
    counts = dict(db.execute(select(Alert.severity, func.count()).where(*open_conds)
                             .group_by(Alert.severity)).all())
    codes = sorted({a.business_id for a in pg.rows if a.business_id})
    names = dict(db.execute(select(Business.id, Business.name).where(Business.id.in_(codes))).all()) if codes else {}
    return AlertPage(pg, {s: counts.get(s, 0) for s in alert_svc.SEVERITIES}, names)


def pass_hash(a: Alert) -> str | None:
    h = (a.detail or {}).get("pass_hash") if a.kind == "REVOKED_PRESENTED" else None
    return h if isinstance(h, str) else None


# -- CSV (listing.csv_response: streamed, BOM, formula-safe cells) -------------------

CSV = (("Mã", "ID"), ("Mức độ", "Severity"), ("Loại", "Kind"), ("Thiết bị", "Device"),
       ("Mã doanh nghiệp", "Business code"), ("Doanh nghiệp", "Business"),
       ("Mã địa điểm", "Site id"), ("Địa điểm", "Site"),
       ("Mã băm thẻ", "Pass hash"), ("Số lần", "Count"),
       ("Lần đầu", "First seen"), ("Gần nhất", "Last seen"), ("Tình trạng", "State"),
       ("Người xác nhận", "Acknowledged by"), ("Xác nhận lúc", "Acknowledged at"),
       ("Ghi chú", "Note"), ("Chi tiết", "Detail"))
# plain columns (no ORM objects) fetched listing.CHUNK_ROWS at a time: flat memory.
# Names come from the same statement (joins on primary keys), not one lookup
# per row; the site is the gate's site now (an alert stores no site).
CSV_COLUMNS = (Alert.id, Alert.severity, Alert.kind, Alert.device_id, Alert.business_id, Business.name,
               Site.id, Site.name, Site.name_en, Alert.detail,
               Alert.count, Alert.created_at, Alert.last_seen_at, Alert.acknowledged_by,
               Alert.acknowledged_at, Alert.ack_note)


def export_select(db: Session, f: Filters, scope: str | None) -> Select:
    return (select(*CSV_COLUMNS)
            .outerjoin(Business, Business.id == Alert.business_id)
            .outerjoin(Device, Device.id == Alert.device_id)
            .outerjoin(Site, Site.id == Device.site_id)
            .where(*conditions(db, listing.without_cursor(f), scope))
            .order_by(*[k.desc() for k in KEYS]))


def csv_rows(rows: Iterator, tz: tzinfo, lang: str = "vi") -> Iterator[tuple]:
    """Every cell goes through listing.cell (csv_response without text_columns):
    names, notes and actors are typed by people."""
    for (aid, severity, kind, device, business, biz_name, site_id, site_name, site_en, detail,
         count, first, last, acked_by, acked_at, note) in rows:
        h = (detail or {}).get("pass_hash") if kind == "REVOKED_PRESENTED" else None
        yield (aid, severity, kind, device or "", business or "", biz_name or "",
               site_id if site_id is not None else "",
               (site_en if lang == "en" and site_en else site_name) or "",
               h if isinstance(h, str) else "",
               count, localtime.fmt(first, tz), localtime.fmt(last, tz),
               "acked" if acked_at else "open", acked_by or "", localtime.fmt(acked_at, tz),
               note or "", json.dumps(detail or {}, ensure_ascii=False, sort_keys=True))
