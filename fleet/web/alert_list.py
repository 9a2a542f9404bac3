"""The alerts page's list: filters from the query string (state, severity,
kind, time range in the district's local time, subject search), one page
of groups by last seen (index ix_alert_last_seen_at_id), and the same
filtered rows as CSV, streamed from the database in chunks."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from fleet.models import Alert
from fleet.services import alerts as alert_svc

from . import i18n
from .queries import PER_PAGE

STATES = ("open", "acked", "all")
RANGES = ("1h", "today", "7d", "custom")
CSV_CHUNK = 2000


@dataclass
class AlertFilter:
    state: str = "open"
    severity: str = ""
    kind: str = ""
    range: str = ""
    since: str = ""   # datetime-local text (local time), for range=custom
    until: str = ""
    q: str = ""       # device id prefix, business id, or pass hash prefix

    @classmethod
    def parse(cls, params) -> "AlertFilter":  # noqa: ANN001 (Starlette QueryParams or dict)
        """Unknown values fall back to the default: a hand-edited URL shows a list."""
        def pick(name: str, allowed: tuple[str, ...], default: str = "") -> str:
            value = params.get(name) or default
            return value if value in allowed else default

        return cls(state=pick("state", STATES, "open"),
                   severity=pick("severity", alert_svc.SEVERITIES),
                   kind=pick("kind", alert_svc.KINDS), range=pick("range", RANGES),
                   since=_local_text(params.get("since")), until=_local_text(params.get("until")),
                   q=(params.get("q") or "").strip().lower()[:32])

    def query(self, **extra: object) -> str:
        values = {**asdict(self), **extra}
        if values["state"] == "open":
            values["state"] = ""
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})

    def window(self, zone: ZoneInfo, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
        """[from, to) in UTC: a group is in it when it was seen in it."""
        local_now = now.astimezone(zone)
        if self.range == "1h":
            return now - dt.timedelta(hours=1), None
        if self.range == "today":
            return local_now.replace(hour=0, minute=0, second=0, microsecond=0), None
        if self.range == "7d":
            return now - dt.timedelta(days=7), None
        if self.range == "custom" or (not self.range and (self.since or self.until)):
            return _parse_local(self.since, zone), _parse_local(self.until, zone)
        return None, None


def _local_text(value: str | None) -> str:
    """A datetime-local value (YYYY-MM-DDTHH:MM[:SS]) or ''."""
    value = (value or "").strip()[:19]
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return ""
    return value


def _parse_local(value: str, zone: ZoneInfo) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=zone).astimezone(dt.timezone.utc)


def conditions(f: AlertFilter, scope: str | None, zone: ZoneInfo, now: dt.datetime) -> list:
    conds = []
    if scope is not None:
        conds.append(Alert.business_id == scope)
    if f.state == "open":
        conds.append(Alert.acknowledged_at.is_(None))
    elif f.state == "acked":
        conds.append(Alert.acknowledged_at.is_not(None))
    if f.severity:
        conds.append(Alert.severity == f.severity)
    if f.kind:
        conds.append(Alert.kind == f.kind)
    since, until = f.window(zone, now)
    if since is not None:
        conds.append(Alert.last_seen_at >= since)
    if until is not None:
        conds.append(Alert.created_at < until)
    if f.q:
        conds.append(_search(f.q))
    return conds


DEVICE_PREFIX = re.compile(r"^gg-[0-9a-f]{0,12}$")
HEX_PREFIX = re.compile(r"^[0-9a-f]{1,32}$")


def _search(q: str):  # noqa: ANN202 (a SQL condition)
    """By the shape of what was typed, each on an index: a device id (or its
    start), a pass hash start (index ranges: ids and hashes are hex after a
    fixed prefix, "g" sorts after every hex digit, in every collation) or a
    business code."""
    if DEVICE_PREFIX.match(q):  # "gg-" + hex: a range, like the pass hash
        return and_(Alert.device_id >= q, Alert.device_id < q + "g")
    business = Alert.business_id == q.upper()
    if HEX_PREFIX.match(q):  # "b1" may be either
        return or_(and_(Alert.pass_hash >= q, Alert.pass_hash < q + "g"), business)
    return business


ORDER = (Alert.last_seen_at.desc(), Alert.id.desc())


@dataclass
class AlertPage:
    rows: list[Alert]
    total: int
    page_no: int
    pages: int
    open_by_severity: dict[str, int]


def page(db: Session, f: AlertFilter, scope: str | None, zone: ZoneInfo, page_no: int,
         now: dt.datetime) -> AlertPage:
    conds = conditions(f, scope, zone, now)
    total = db.scalar(select(func.count()).select_from(Alert).where(*conds)) or 0
    pages = max(1, -(-total // PER_PAGE))
    page_no = min(max(1, page_no), pages)
    # the page's ids first: a deep page skips index entries (last_seen_at, id)
    # only, not whole rows; then its 50 rows
    ids = list(db.scalars(select(Alert.id).where(*conds).order_by(*ORDER)
                          .offset((page_no - 1) * PER_PAGE).limit(PER_PAGE)))
    rows = sorted(db.scalars(select(Alert).where(Alert.id.in_(ids))) if ids else [],
                  key=lambda a: ids.index(a.id))
    open_conds = [Alert.acknowledged_at.is_(None)] + ([Alert.business_id == scope] if scope else [])
    counts = dict(db.execute(select(Alert.severity, func.count()).where(and_(*open_conds))
                             .group_by(Alert.severity)).all())
    return AlertPage(rows, total, page_no, pages, {s: counts.get(s, 0) for s in alert_svc.SEVERITIES})


def pass_hash(a: Alert) -> str | None:
    h = (a.detail or {}).get("pass_hash") if a.kind == "REVOKED_PRESENTED" else None
    return h if isinstance(h, str) else None


# -- CSV -------------------------------------------------------------------------

CSV_COLUMNS = ("id", "severity", "kind", "device", "business", "pass_hash", "count", "first_seen",
               "last_seen", "state", "acked_by", "acked_at", "ack_note", "detail")


def _cell(value: object) -> object:
    """Spreadsheets run a cell that starts with = + - @ (or a tab/CR) as a
    formula: device-sent text is quoted so it stays text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _stamp(value: dt.datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat(timespec="seconds") if value else ""


def csv_stream(sessions, f: AlertFilter, scope: str | None, zone: ZoneInfo, lang: str,  # noqa: ANN001
               now: dt.datetime) -> Iterator[bytes]:
    """CSV bytes, CSV_CHUNK rows at a time, from its own database session
    (the page's session is closed before the body is sent). UTF-8 with a
    byte-order mark so spreadsheet programs read the diacritics."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow([i18n.t(lang, "alerts.csv." + c) for c in CSV_COLUMNS])
    yield ("\ufeff" + buf.getvalue()).encode()
    cols = (Alert.id, Alert.severity, Alert.kind, Alert.device_id, Alert.business_id, Alert.detail,
            Alert.count, Alert.created_at, Alert.last_seen_at, Alert.acknowledged_by,
            Alert.acknowledged_at, Alert.ack_note)
    with sessions() as db:
        # plain rows (no ORM objects), fetched CSV_CHUNK at a time: flat memory
        q = (select(*cols).where(*conditions(f, scope, zone, now)).order_by(*ORDER)
             .execution_options(yield_per=CSV_CHUNK))
        for chunk in db.execute(q).partitions():
            buf.seek(0)
            buf.truncate()
            for (aid, severity, kind, device, business, detail, count, first, last, acked_by,
                 acked_at, note) in chunk:
                h = (detail or {}).get("pass_hash") if kind == "REVOKED_PRESENTED" else None
                out.writerow([_cell(v) for v in (
                    aid, severity, kind, device or "", business or "",
                    h if isinstance(h, str) else "", count, _stamp(first, zone), _stamp(last, zone),
                    "acked" if acked_at else "open", acked_by or "", _stamp(acked_at, zone),
                    note or "", json.dumps(detail or {}, ensure_ascii=False, sort_keys=True))])
            yield buf.getvalue().encode()
