"""Find, filter, page and export for every dashboard list (scans, feed,
devices, passes, audit, alerts).

- `parse_filters`: the URL query (shareable) -> `Filters`, validated: a bad
  value is a 400 page naming the field and what it accepts (BadRequest code
  BAD_FILTER), never a 500. Time ranges are in the fleet's local time zone
  (setting `timezone`, fleet/web/localtime.py).
- `keyset_page`: newest-first pages on an index ((at, id) and the like) with
  `before=` / `after=` cursors: page 10,000 costs what page 1 does.
- `name_matches`: free text against business and site names, ignoring case
  and Vietnamese diacritics ("tan phu" finds "Tân Phú").
- `csv_stream`: a CSV export of the same query, streamed from a server-side
  cursor (rows never all in memory), UTF-8 with BOM for Excel, cells that
  a spreadsheet would run as a formula made inert.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from urllib.parse import urlencode

from fastapi.responses import StreamingResponse
from sqlalchemy import Select, literal, select, tuple_, union_all
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.models import Business, Site

PER_PAGE = 50
MAX_Q = 64
MAX_SPAN_DAYS = 400
RANGES = ("1h", "today", "7d", "custom", "all")
HEX = re.compile(r"^[0-9a-f]+$")
# (key, id); a datetime key is microseconds since the epoch (16 digits today)
CURSOR = re.compile(r"^(-?\d{1,18})\.(\d{1,18})$")


def bad(field_name: str, vi: str, en: str) -> errors.BadRequest:
    return errors.BadRequest(f"{field_name}: {vi} / {en}", code="BAD_FILTER")


@dataclass(frozen=True)
class Filters:
    """What a list shows. Empty fields do not filter."""

    range: str = "all"
    default_range: str = "all"  # the list's range without ?range= (left out of its URLs)
    since: int | None = None   # unix seconds, inclusive
    until: int | None = None   # unix seconds, exclusive
    frm: str = ""              # custom range as typed (local time)
    to: str = ""
    ward: str = ""
    business: str = ""
    site: int | None = None
    verdict: bool | None = None
    reason: int | None = None
    q: str = ""
    action: str = ""           # audit list: action name
    before: tuple[int, int] | None = None
    after: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)

    def params(self, **override: object) -> dict:
        """The URL query of these filters (without the page cursor)."""
        p = {"range": self.range if self.range != self.default_range else "", "from": self.frm if self.range == "custom" else "",
             "to": self.to if self.range == "custom" else "", "ward": self.ward,
             "business": self.business, "site": self.site, "q": self.q, "action": self.action,
             "verdict": "" if self.verdict is None else ("accepted" if self.verdict else "denied"),
             "reason": self.reason, **self.extra}
        p.update(override)
        return {k: v for k, v in p.items() if v not in ("", None)}

    def query(self, **override: object) -> str:
        p = self.params(**override)
        return "?" + urlencode(p) if p else ""

    @property
    def active(self) -> bool:
        return bool(self.params())


def _text(params, name: str, max_len: int) -> str:  # noqa: ANN001
    raw = (params.get(name) or "").strip()
    if len(raw) > max_len:
        raise bad(name, f"tối đa {max_len} ký tự", f"at most {max_len} characters")
    if any(unicodedata.category(c) == "Cc" for c in raw):
        raise bad(name, "có ký tự điều khiển", "contains control characters")
    return raw


def _int(params, name: str, lo: int, hi: int) -> int | None:  # noqa: ANN001
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"-?\d{1,19}", raw):
        raise bad(name, "không phải số nguyên", "not an integer")
    value = int(raw)
    if not lo <= value <= hi:
        raise bad(name, f"phải trong khoảng {lo}..{hi}", f"must be within {lo}..{hi}")
    return value


def _local(raw: str, name: str, tz: tzinfo) -> dt.datetime:
    """'2021-09-27', '2021-09-27T08:30' or '2021-09-27 08:30[:ss]', local time."""
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            value = dt.datetime.strptime(raw, fmt)
        except ValueError:
            continue
        if not 2000 <= value.year <= 2100:
            break
        return value.replace(tzinfo=tz)
    raise bad(name, "ngày giờ không hợp lệ (dd: 2021-09-27T08:30)",
              "not a valid date and time (e.g. 2021-09-27T08:30)")


def _cursor(params, name: str) -> tuple[int, int] | None:  # noqa: ANN001
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    m = CURSOR.match(raw)
    if not m:
        raise bad(name, "con trỏ trang không hợp lệ", "not a valid page cursor")
    return int(m.group(1)), int(m.group(2))


def time_range(key: str, frm: str, to: str, tz: tzinfo, now: float) -> tuple[int | None, int | None]:
    if key == "1h":
        return int(now) - 3600, None
    if key == "today":
        midnight = dt.datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        return int(midnight.timestamp()), None
    if key == "7d":
        return int(now) - 7 * 86400, None
    if key == "custom":
        if not frm and not to:
            raise bad("from", "cần thời điểm bắt đầu", "a start time is required")
        start = _local(frm, "from", tz) if frm else None  # only "to": everything before it
        if to:
            end = _local(to, "to", tz)
            if len(to) == 10:  # a bare date includes that whole day
                end += dt.timedelta(days=1)
        else:
            end = None
        if start is not None and end is not None and end <= start:
            raise bad("to", "phải sau thời điểm bắt đầu", "must be after the start")
        if start is not None and end is not None and (end - start).days > MAX_SPAN_DAYS:
            raise bad("to", f"khoảng tối đa {MAX_SPAN_DAYS} ngày", f"at most {MAX_SPAN_DAYS} days")
        return (int(start.timestamp()) if start else None), (int(end.timestamp()) if end else None)
    return None, None


def parse_filters(params, tz: tzinfo, *, allowed: Sequence[str] = (),  # noqa: ANN001
                  default_range: str = "all", now: float | None = None, paged: bool = True) -> Filters:
    """Validated filters from a query string; only `allowed` fields are read
    (others are ignored, like any unknown parameter); `paged`: read the
    before= / after= page cursors. Dates typed are local time in `tz`."""
    now = time.time() if now is None else now
    ok = set(allowed)
    key = default_range
    frm = to = ""
    if "range" in ok:
        key = (params.get("range") or default_range).strip()
        if key not in RANGES:
            raise bad("range", "chọn 1h, today, 7d, custom hoặc all", "choose 1h, today, 7d, custom or all")
        frm, to = _text(params, "from", 19), _text(params, "to", 19)
        if key != "custom" and (frm or to):
            key = "custom"  # a from/to typed with another range selected: the dates win
    since, until = time_range(key, frm, to, tz, now) if "range" in ok else (None, None)
    verdict = None
    if "verdict" in ok:
        raw = (params.get("verdict") or "").strip()
        if raw not in ("", "accepted", "denied"):
            raise bad("verdict", "chọn accepted hoặc denied", "choose accepted or denied")
        verdict = None if not raw else raw == "accepted"
    business = _text(params, "business", 16) if "business" in ok else ""
    if business and not re.fullmatch(r"[A-Za-z0-9_-]+", business):
        raise bad("business", "mã doanh nghiệp chỉ gồm chữ, số, - và _", "a business code is letters, digits, - and _")
    q = _text(params, "q", MAX_Q) if "q" in ok else ""
    return Filters(
        range=key, default_range=default_range, since=since, until=until, frm=frm, to=to,
        ward=_text(params, "ward", 100) if "ward" in ok else "",
        business=business,
        site=_int(params, "site", 1, 2**31 - 1) if "site" in ok else None,
        verdict=verdict,
        reason=_int(params, "reason", 0, 255) if "reason" in ok else None,
        q=q, action=_text(params, "action", 64) if "action" in ok else "",
        before=_cursor(params, "before") if paged else None,
        after=_cursor(params, "after") if paged else None)


# -- free-text search over names -------------------------------------------------

def fold(text: str) -> str:
    """Lower case without diacritics: 'Tân Phú' -> 'tan phu', 'Đông' -> 'dong'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).casefold()


def name_matches(db: Session, q: str, scope: str | None = None) -> tuple[set[int], set[str]]:
    """(site ids, business ids) whose name, code (or the business's name)
    contains `q`, ignoring case and diacritics. Reads the registry (a few
    thousand rows), so a renamed site is found at once."""
    needle = fold(q)
    sites: set[int] = set()
    businesses: set[str] = set()
    stmt = select(Site.id, Site.name, Site.name_en, Business.id, Business.name).join(
        Business, Business.id == Site.business_id)
    if scope is not None:
        stmt = stmt.where(Site.business_id == scope)
    for sid, sname, sname_en, bid, bname in db.execute(stmt):
        if needle in fold(bname) or needle in fold(bid):
            businesses.add(bid)
            sites.add(sid)
        elif needle in fold(sname) or (sname_en and needle in fold(sname_en)):
            sites.add(sid)
    bstmt = select(Business.id, Business.name)
    if scope is not None:
        bstmt = bstmt.where(Business.id == scope)
    for bid, bname in db.execute(bstmt):  # businesses without a site yet
        if needle in fold(bname) or needle in fold(bid):
            businesses.add(bid)
    return sites, businesses


def hash_prefix(q: str) -> str | None:
    """A pass-hash prefix when q looks like one (4..32 hex digits)."""
    q = q.lower()
    return q if 4 <= len(q) <= 32 and HEX.match(q) else None


def prefix_range(column, prefix: str) -> list:  # noqa: ANN001
    """column starts with `prefix` as an index range (a LIKE 'x%' needs a
    C collation or a pattern index on PostgreSQL; a range works with any)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return [column >= prefix, column < upper]


# -- keyset paging ----------------------------------------------------------------

@dataclass
class Page:
    rows: list
    older: str | None   # cursor of the next (older) page
    newer: str | None   # cursor of the previous (newer) page


def keyset_page(db: Session, stmt: Select, keys: tuple, f: Filters, per_page: int = PER_PAGE,
                key_of: Callable[[object], tuple[int, int]] | None = None,
                branches: Sequence | None = None) -> Page:
    """Newest first on `keys` (two columns: a time and a unique id, both on an
    index). `before=` gives the page below a row, `after=` the page above.
    `branches` (e.g. one condition per site of a business): each is read in
    key order up to one page on its own index range and the pages merged,
    instead of sorting every row of the set."""
    key_of = key_of or (lambda r: (r[-2], r[-1]))
    stmt = stmt.add_columns(*[k.label(f"_k{i}") for i, k in enumerate(keys)])

    def bound(cursor: tuple) -> object:  # the cursor's values typed like the key columns
        return tuple_(*[literal(v, k.type) for k, v in zip(keys, cursor)])

    newer_first = f.after is not None and f.before is None
    if newer_first:
        cond, order = tuple_(*keys) > bound(f.after), [k.asc() for k in keys]
    elif f.before is not None:
        cond, order = tuple_(*keys) < bound(f.before), [k.desc() for k in keys]
    else:
        cond, order = None, [k.desc() for k in keys]
    if cond is not None:
        stmt = stmt.where(cond)
    if branches:
        subs = [stmt.where(b).order_by(*order).limit(per_page + 1).subquery() for b in branches]
        u = union_all(*[select(*sub.c) for sub in subs]).subquery()
        ks = [u.c[f"_k{i}"] for i in range(len(keys))]
        query = select(*u.c).order_by(*[(k.asc() if newer_first else k.desc()) for k in ks])
    else:
        query = stmt.order_by(*order)
    rows = db.execute(query.limit(per_page + 1)).all()
    if newer_first:
        more_newer = len(rows) > per_page
        rows = list(reversed(rows[:per_page]))
        return Page(rows, _cur(key_of(rows[-1])) if rows else None,
                    _cur(key_of(rows[0])) if more_newer and rows else None)
    more_older = len(rows) > per_page
    rows = rows[:per_page]
    return Page(rows, _cur(key_of(rows[-1])) if more_older else None,
                _cur(key_of(rows[0])) if f.before is not None and rows else None)


def datetime_keyset_page(db: Session, stmt: Select, keys: tuple, f: Filters,
                         per_page: int = PER_PAGE) -> Page:
    """keyset_page on (a datetime column, id): the cursors carry the datetime
    as microseconds since the epoch."""
    def at(c: tuple[int, int] | None, name: str):  # noqa: ANN202
        if c is None:
            return None
        try:
            return dt.datetime.fromtimestamp(c[0] / 1_000_000, dt.timezone.utc), c[1]
        except (OverflowError, OSError, ValueError):
            raise bad(name, "con trỏ trang không hợp lệ", "not a valid page cursor") from None

    return keyset_page(db, stmt, keys, replace(f, before=at(f.before, "before"), after=at(f.after, "after")),
                       per_page,
                       key_of=lambda r: (int(r[-2].timestamp() * 1_000_000), r[-1]))


def _cur(key: tuple[int, int]) -> str:
    return f"{int(key[0])}.{int(key[1])}"


# -- CSV export -------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
CHUNK_ROWS = 5000
COPY_CHUNK = 256 * 1024


def cell(value: object) -> object:
    """A text a spreadsheet would evaluate (=, +, -, @, tab, CR first) gets a
    leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[object]],
             text_columns: Sequence[int] | None = None) -> Iterator[str]:
    """BOM + header line, then chunks of CSV text (CHUNK_ROWS rows each).
    `text_columns`: the only columns that can hold free text (names typed by
    people); the others are made by the fleet (numbers, times, codes, hex)
    and skip the formula check. None: check every cell."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([cell(h) for h in header])
    yield BOM + buf.getvalue()
    chunk: list = []
    for row in rows:
        if text_columns is None:
            row = [cell(v) for v in row]
        else:
            row = list(row)
            for i in text_columns:
                v = row[i]
                if v and isinstance(v, str) and v[0] in FORMULA_START:
                    row[i] = "'" + v
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield _write(chunk)
            chunk = []
    if chunk:
        yield _write(chunk)


def _write(chunk: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(chunk)
    return buf.getvalue()


def stream_query(sessions, stmt: Select, orm: bool = True) -> Iterator:  # noqa: ANN001
    """Rows of `stmt` from a server-side cursor (PostgreSQL: a named cursor;
    SQLite: stepping the statement), CHUNK_ROWS at a time, in a session of
    its own that lives as long as the download. `orm=False`: plain column
    rows through the connection (no ORM row processing: the scan export)."""
    with sessions() as db:
        opts = {"stream_results": True, "yield_per": CHUNK_ROWS}
        if orm:
            result = db.execute(stmt, execution_options=opts)
        else:
            result = db.connection().execution_options(**opts).execute(stmt)
        for part in result.partitions():
            yield from part


def copy_chunks(sessions, header: Sequence[str], sql: str, params: dict) -> Iterator[bytes]:  # noqa: ANN001
    """PostgreSQL: BOM + header, then the bytes of `COPY (...) TO STDOUT`
    as the server sends them (psycopg merges the parameters client-side,
    quoted by libpq). Nothing is held but one piece of COPY_CHUNK bytes."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([cell(h) for h in header])
    yield (BOM + buf.getvalue()).encode()
    with sessions() as db:
        raw = db.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(sql, params) as copy:
            out = bytearray()
            for data in copy:  # one row per message: send them in ~256 KB pieces
                out += data
                if len(out) >= COPY_CHUNK:
                    yield bytes(out)
                    out.clear()
            if out:
                yield bytes(out)


def csv_response(kind: str, columns: Sequence[tuple[str, str]], rows: Iterable,
                 text_columns: Sequence[int] | None = None, ready: bool = False) -> StreamingResponse:
    """`kind`-<UTC time>.csv with 'Vietnamese / English' column titles.
    `rows`: tuples to write, or (`ready`) CSV bytes already made, header
    included (copy_chunks)."""
    filename = f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.csv"
    body = rows if ready else csv_rows(header(columns), rows, text_columns)
    return StreamingResponse(
        body, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def header(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """'Vietnamese / English' column titles."""
    return [f"{vi} / {en}" for vi, en in pairs]


def without_cursor(f: Filters) -> Filters:
    return replace(f, before=None, after=None)
