"""Find, filter, page and export (fleet/web/listing.py, lists.py) on a
generated fleet (bench/gen_fleet_db.py at a small size): every filter
narrows the scan list to exactly the rows an independent Python filter over
all scans picks, paging walks them all once, the CSV export holds the same
rows; bad filter values are a 400 page with the reason, never a 500; CSV
cells cannot run as spreadsheet formulas; managers stay in their business."""

from __future__ import annotations

import csv
import io
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from web_helpers import Browser, make_app

from sqlalchemy import select

from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import SCAN_AT, AuditLog, Business, Scan, Site
from fleet.services import users
from fleet.web import listing, localtime

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import gen_fleet_db  # noqa: E402

IDS = re.compile(r'<tr data-id="(\d+)"')
OLDER = re.compile(r'<a href="([^"]+)" rel="next">')
NEWER = re.compile(r'<a href="([^"]+)" rel="prev">')
NOW = int(time.time())


@pytest.fixture
def fleet(settings):
    """60 gates, 12 sites, 6 businesses over 10 wards, 3,000 scans in 10 days,
    an admin and a manager of B0001; (browsers, all scans as dicts)."""
    from fastapi.testclient import TestClient

    # "now" of this fleet, read by CASES at test time: taken when it is built, not
    # at import (a long module before this one, e.g. the 10M build, moved the
    # 7-day window past scans at its edge)
    global NOW
    NOW = int(time.time())
    gen_fleet_db.build(settings.db_url, 60, 3000, days=10, n_passes=300, n_audit=120, end=NOW)
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        users.ensure_admin(db, settings.admin_username, settings.admin_password)
        users.create_user(db, "manager", "manager-password-1", "manager", "B0001")
        # a business whose name a spreadsheet would run as a formula
        db.get(Business, "B0002").name = "=HYPERLINK(\"http://evil\",\"x\")"
        db.commit()
        rows = [dict(r._mapping) for r in db.execute(
            select(Scan.id, Scan.site_id, Scan.pass_hash, Scan.verdict, Scan.reason, SCAN_AT.label("at"),
                   Site.business_id, Business.ward, Business.name.label("bname"), Site.name.label("sname"))
            .join(Site, Site.id == Scan.site_id).join(Business, Business.id == Site.business_id))]
    app = make_app(settings, sessions)
    with TestClient(app) as c1, TestClient(app) as c2:
        admin, manager = Browser(c1), Browser(c2)
        assert admin.login("admin", settings.admin_password).status_code == 303
        assert manager.login("manager", "manager-password-1").status_code == 303
        yield {"admin": admin, "manager": manager}, rows, sessions
    engine.dispose()


def walk(b: Browser, url: str) -> list[int]:
    """Scan ids of every page, following 'older' links to the end."""
    ids: list[int] = []
    pages = 0
    while url:
        r = b.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        ids += [int(i) for i in IDS.findall(r.text)]
        m = OLDER.search(r.text)
        url = m.group(1).replace("&amp;", "&") if m else None
        pages += 1
        assert pages < 200
    return ids


def csv_rows(b: Browser, url: str) -> tuple[list[str], list[list[str]]]:
    r = b.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    return table[0], table[1:]


def fold(s: str) -> str:
    return listing.fold(s)


CASES = [
    ({"range": "all"}, lambda r: True),
    ({"range": "7d", "verdict": "denied"}, lambda r: r["at"] >= NOW - 7 * 86400 and not r["verdict"]),
    ({"range": "all", "ward": gen_fleet_db.WARDS[3]}, lambda r: r["ward"] == gen_fleet_db.WARDS[3]),
    ({"range": "all", "business": "B0004", "verdict": "accepted"},
     lambda r: r["business_id"] == "B0004" and r["verdict"]),
    ({"range": "all", "site": "7", "reason": "12"}, lambda r: r["site_id"] == 7 and r["reason"] == 12),
    ({"range": "all", "q": "nha thuoc"}, lambda r: "nha thuoc" in fold(r["bname"])),  # no diacritics typed
    ({"range": "all", "q": "CỔNG KHO"}, lambda r: "cong kho" in fold(r["sname"])),
    ({"range": "1h"}, lambda r: r["at"] >= NOW - 3600),
]


@pytest.mark.parametrize("params,keep", CASES, ids=[urlencode(p) for p, _ in CASES])
def test_filters_narrow_the_scan_list_and_the_csv(fleet, params, keep):
    b, rows = fleet[0]["admin"], fleet[1]
    want = [r["id"] for r in sorted((r for r in rows if keep(r)), key=lambda r: (r["at"], r["id"]),
                                    reverse=True)]
    got = walk(b, "/ui/scans?" + urlencode(params))
    if params.get("range") == "1h":  # the clock moved on since NOW: the hour starts later
        assert got and set(got) <= set(want)
    else:
        assert got == want  # newest first by event time, every row once over the pages
    header, body = csv_rows(b, "/ui/scans.csv?" + urlencode(params))
    assert header[0] == "Thời gian / Time" and header[-1] == "Mã lượt quét / Scan id"
    assert [int(r[-1]) for r in body] == got


def test_hash_prefix_search_and_custom_range(fleet):
    b, rows = fleet[0]["admin"], fleet[1]
    target = rows[len(rows) // 2]
    prefix = target["pass_hash"][:6]
    got = walk(b, "/ui/scans?" + urlencode({"range": "all", "q": prefix}))
    assert sorted(got) == sorted(r["id"] for r in rows if r["pass_hash"].startswith(prefix))
    assert target["id"] in got
    tz = localtime.zone(localtime.DEFAULT_ZONE)
    import datetime as dt
    lo = dt.datetime.fromtimestamp(NOW - 3 * 86400, tz).replace(minute=0, second=0)
    hi = lo + dt.timedelta(hours=30)
    params = {"range": "custom", "from": lo.strftime("%Y-%m-%dT%H:%M"), "to": hi.strftime("%Y-%m-%dT%H:%M")}
    got = walk(b, "/ui/scans?" + urlencode(params))
    assert got and sorted(got) == sorted(r["id"] for r in rows
                                         if lo.timestamp() <= r["at"] < hi.timestamp())


def test_paging_back_and_forth(fleet):
    b = fleet[0]["admin"]
    first = b.get("/ui/scans?range=all").text
    page1 = IDS.findall(first)
    assert len(page1) == listing.PER_PAGE
    second = b.get(OLDER.search(first).group(1).replace("&amp;", "&")).text
    page2 = IDS.findall(second)
    assert len(page2) == listing.PER_PAGE and not set(page1) & set(page2)
    back = b.get(NEWER.search(second).group(1).replace("&amp;", "&")).text
    assert IDS.findall(back) == page1


BAD = [
    ("range=bogus", "range"), ("site=abc", "site"), ("site=-4", "site"), ("reason=999", "reason"),
    ("verdict=maybe", "verdict"), ("range=custom&from=27/09/2021", "from"),
    ("range=custom", "from"), ("range=custom&from=2021-09-27&to=2021-09-26", "to"),
    ("range=custom&from=2001-01-01&to=2099-01-01", "to"), ("before=12", "before"),
    ("after=1.x", "after"), ("business=B%27%3B--", "business"), ("q=" + "x" * 65, "q"),
    ("q=a%00b", "q"), ("ward=" + "w" * 101, "ward"),
]


@pytest.mark.parametrize("page", ["/ui/scans", "/ui/scans.csv", "/ui/charts", "/ui/passes", "/ui/feed",
                                  "/ui/audit", "/ui/"])
def test_bad_filter_values_are_a_clear_400(fleet, page):
    b = fleet[0]["admin"]
    has = {"/ui/passes": {"range", "from", "to", "before", "after", "business", "q", "ward"},
           "/ui/feed": {"site", "reason", "verdict", "business", "q", "ward"},
           "/ui/audit": {"range", "from", "to", "before", "after", "q"},
           "/ui/": {"site", "business", "q", "ward"}}.get(page)
    for query, field in BAD:
        r = b.get(f"{page}?{query}")
        if has is not None and field not in has:  # a filter this page does not have: ignored
            assert r.status_code == 200, (page, query)
            continue
        assert r.status_code == 400, (page, query, r.status_code)
        assert "BAD_FILTER" in r.text and f"{field}:" in r.text, (page, query)


def test_csv_cells_cannot_run_as_formulas(fleet):
    b = fleet[0]["admin"]
    _, body = csv_rows(b, "/ui/scans.csv?range=all&business=B0002")
    assert body and all(r[4] == "'=HYPERLINK(\"http://evil\",\"x\")" for r in body)
    assert listing.cell("+1") == "'+1" and listing.cell("-2") == "'-2" and listing.cell("@x") == "'@x"
    assert listing.cell(-2) == -2 and listing.cell("a=b") == "a=b"


def test_manager_sees_only_its_business(fleet):
    m, rows = fleet[0]["manager"], fleet[1]
    got = walk(m, "/ui/scans?range=all")
    assert sorted(got) == sorted(r["id"] for r in rows if r["business_id"] == "B0001")
    assert m.get("/ui/scans?business=B0002").status_code == 403
    assert m.get("/ui/scans.csv?business=B0002").status_code == 403
    _, body = csv_rows(m, "/ui/scans.csv?range=all")
    assert {r[3] for r in body} == {"B0001"}
    assert m.get("/ui/audit").status_code == 403


def test_other_lists_filter_page_and_export(fleet):
    b = fleet[0]["admin"]
    # devices (the overview): ward filter, names beside codes, CSV of the same rows
    ward = gen_fleet_db.WARDS[1]
    page = b.get("/ui/?" + urlencode({"ward": ward})).text
    shown = re.findall(r'<tr data-device="([^"]+)"', page)
    _, body = csv_rows(b, "/ui/devices.csv?" + urlencode({"ward": ward}))
    assert shown and [r[0] for r in body] == shown and {r[3] for r in body} == {ward}
    assert gen_fleet_db.business_name(1) in page
    # passes: search by business name, keyset pages, CSV
    rows = walk_passes(b, "/ui/passes?q=kho+hang")  # business B0003 "Kho hàng ..."
    _, body = csv_rows(b, "/ui/passes.csv?q=kho+hang")
    assert rows and [r[0] for r in body] == rows and {r[3] for r in body} == {"B0003"}
    # audit: action filter
    r = b.get("/ui/audit?range=all&action=alert.ack")
    assert r.status_code == 200 and "alert.ack" in r.text and "pass.issue</code>" not in r.text
    _, body = csv_rows(b, "/ui/audit.csv?range=all&action=alert.ack")
    with fleet[2]() as db:
        n = len(db.scalars(select(AuditLog).where(AuditLog.action == "alert.ack")).all())
    assert len(body) == n and {r[2] for r in body} == {"alert.ack"}


def walk_passes(b: Browser, url: str) -> list[str]:
    out: list[str] = []
    while url:
        text = b.get(url).text
        out += re.findall(r'<tr data-pass="([0-9a-f]{32})">', text)
        m = OLDER.search(text)
        url = m.group(1).replace("&amp;", "&") if m else None
    return out


@pytest.mark.parametrize("params", [{"range": "7d"}, {"range": "all"}, {"range": "7d", "verdict": "denied"},
                                    {"range": "7d", "reason": "12"}, {"range": "today"}])
def test_analytics_page_equals_the_scans(fleet, params):
    """Per ward and per business totals (daily grain + hourly ends, or the
    hourly grain with a reason filter) equal a count over the scans."""
    b, rows = fleet[0]["admin"], fleet[1]
    text = b.get("/ui/charts?" + urlencode(params)).text
    m = re.search(r"(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d) – (\d\d/\d\d/\d{4} \d\d:\d\d:\d\d)", text)
    import datetime as dt
    tz = localtime.zone(localtime.DEFAULT_ZONE)
    lo, hi = (dt.datetime.strptime(x, "%d/%m/%Y %H:%M:%S").replace(tzinfo=tz).timestamp() for x in m.groups())

    def keep(r: dict) -> bool:
        return (lo <= r["at"] < hi and (params.get("verdict") != "denied" or not r["verdict"])
                and ("reason" not in params or r["reason"] == int(params["reason"])))

    want: dict[str, list[int]] = {}
    for r in rows:
        if keep(r):
            want.setdefault(r["ward"], [0, 0])[0 if r["verdict"] else 1] += 1
    got = {w: [int(a), int(d)] for w, a, d in re.findall(
        r'<tr data-ward="([^"]+)"><td>.*?</td><td class="num">(\d+)</td><td class="num">(\d+)</td>', text)}
    assert got == want
    assert int(re.search(r'id="an-accepted">(\d+)<', text).group(1)) == sum(a for a, _ in want.values())


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_postgresql_copy_export_equals_the_python_rows(fleet, lang):
    """On PostgreSQL the scan export is formatted by the database (COPY); it
    must say exactly what the Python writer says (the SQLite path)."""
    b, _, sessions = fleet
    with sessions() as db:
        if db.get_bind().dialect.name != "postgresql":
            pytest.skip("the COPY export is PostgreSQL's")
    from starlette.datastructures import QueryParams

    from fleet.web import lists

    f = listing.parse_filters(QueryParams("range=all"), localtime.zone(localtime.DEFAULT_ZONE), allowed=lists.SCAN_FILTERS)
    tz = localtime.zone(localtime.DEFAULT_ZONE)
    with sessions() as db:
        stmt = lists.scans_export_select(db, f, None)
        sql, params = lists.scans_copy_sql(db, f, None, lang, tz.key)
    head = listing.header(lists.SCAN_CSV)
    python = "".join(listing.csv_rows(head, lists.scan_csv_rows(
        listing.stream_query(sessions, stmt, orm=False), lang, tz), lists.SCAN_CSV_TEXT))
    copied = b"".join(listing.copy_chunks(sessions, head, sql, params)).decode()
    assert list(csv.reader(io.StringIO(copied))) == list(csv.reader(io.StringIO(python)))
    assert len(copied.splitlines()) == 3001
