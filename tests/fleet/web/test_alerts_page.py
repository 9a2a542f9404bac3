"""The alerts page (issue 12): groups with severity and counts, filters by
state, severity, kind, time range (local time) and subject, server-side
pages, the CSV of the filtered list (streamed; same rows as the view, in
order), acknowledging one or many with a note, managers limited to their
business, CSRF and roles."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from sqlalchemy import select, update

from fleet.models import Alert, AuditLog, utcnow
from fleet.services import alerts
from web_helpers import DEVICES, alert_rows

LOST = "ab" * 16
NEXT_PAGE = re.compile(r'href="(/ui/alerts\?[^"]*)" rel="next"')
PREV_PAGE = re.compile(r'href="(/ui/alerts\?[^"]*)" rel="prev"')


def _cursor(session_factory, alert_id: int) -> str:
    """The page cursor just below this alert (listing.datetime_keyset_page)."""
    with session_factory() as db:
        a = db.get(Alert, alert_id)
        return f"{int(a.last_seen_at.timestamp() * 1_000_000)}.{a.id}"


def raise_some(session_factory, n_devices: int = 0) -> dict[str, int]:
    """A revoked card 23 times at B1, tamper on B2's gate, a clock drift on
    B1's gate, plus n_devices offline groups on B1 (paging)."""
    with session_factory() as db:
        for _ in range(23):
            alerts.raise_grouped(db, "REVOKED_PRESENTED", DEVICES["B1"], "B1", {"pass_hash": LOST},
                                 subject=f"pass:{LOST}@B1", seq=1)
        tamper = alerts.raise_grouped(db, "TAMPER", DEVICES["B2"], "B2", {})
        clock = alerts.raise_grouped(db, "CLOCK_DRIFT", DEVICES["B1"], "B1", {}, drift_s=-300.0)
        for i in range(n_devices):
            alerts.raise_grouped(db, "DEVICE_OFFLINE", f"gg-{i:012x}", "B1", {})
        db.commit()
        lost = db.scalar(select(Alert.id).where(Alert.kind == "REVOKED_PRESENTED"))
        return {"lost": lost, "tamper": tamper.id, "clock": clock.id}


def kinds(page: str) -> list[str]:
    return [r["kind"] for r in alert_rows(page)]


def test_groups_severity_and_filters(web, session_factory):
    _, _, b = web
    ids = raise_some(session_factory)
    op = b["operator"]
    rows = {r["kind"]: r for r in alert_rows(op.get("/ui/alerts").text)}
    assert rows["REVOKED_PRESENTED"]["count"] == 23 and rows["REVOKED_PRESENTED"]["severity"] == "critical"
    assert LOST in rows["REVOKED_PRESENTED"]["html"] and "Khẩn cấp" in rows["REVOKED_PRESENTED"]["html"]
    assert "Bách hoá Xanh Tân Phong" in rows["REVOKED_PRESENTED"]["html"]  # the name beside B1
    assert "Nhà thuốc Long Châu" in rows["TAMPER"]["html"]
    assert rows["CLOCK_DRIFT"]["severity"] == "info" and "drift_s=-300.0" in rows["CLOCK_DRIFT"]["html"]
    assert sorted(kinds(op.get("/ui/alerts?severity=critical").text)) == ["REVOKED_PRESENTED", "TAMPER"]
    assert kinds(op.get("/ui/alerts?kind=CLOCK_DRIFT").text) == ["CLOCK_DRIFT"]
    assert kinds(op.get("/ui/alerts?q=abab").text) == ["REVOKED_PRESENTED"]  # pass hash prefix
    assert sorted(kinds(op.get("/ui/alerts?q=b1").text)) == ["CLOCK_DRIFT", "REVOKED_PRESENTED"]
    assert kinds(op.get(f"/ui/alerts?q={DEVICES['B2']}").text) == ["TAMPER"]
    # hostile or unknown values: a 400 page naming the field (fleet/web/listing.py), never a 500
    for bad in ("severity=x", "kind=%27", "state=nope", "range=zz", "range=custom&from=1e9",
                "before=-4", "q=" + "x" * 65):
        page = op.get("/ui/alerts?" + bad)
        assert page.status_code == 400 and bad.split("=")[0] in page.text, bad
    assert kinds(op.get("/ui/alerts?q=%25_").text) == []  # LIKE wildcards are plain text
    assert len(alert_rows(op.get("/ui/alerts?page=abc").text)) == 3  # unknown parameters: ignored
    # time range: the clock alert was last seen two days ago (local time boundaries)
    with session_factory() as db:
        two_days = utcnow() - dt.timedelta(days=2)
        db.execute(update(Alert).where(Alert.id == ids["clock"])
                   .values(created_at=two_days, last_seen_at=two_days))
        db.commit()
    assert "CLOCK_DRIFT" not in kinds(op.get("/ui/alerts?range=1h").text)
    assert "CLOCK_DRIFT" not in kinds(op.get("/ui/alerts?range=today").text)
    assert "CLOCK_DRIFT" in kinds(op.get("/ui/alerts?range=7d").text)
    local = two_days.astimezone(dt.timezone(dt.timedelta(hours=7)))  # Asia/Ho_Chi_Minh: UTC+7
    since = (local - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    until = (local + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    assert kinds(op.get(f"/ui/alerts?range=custom&from={since}&to={until}").text) == ["CLOCK_DRIFT"]
    assert kinds(op.get(f"/ui/alerts?from={since}&to={until}").text) == ["CLOCK_DRIFT"]  # dates alone
    assert "CLOCK_DRIFT" not in kinds(op.get(f"/ui/alerts?to={since}").text)
    assert "Asia/Ho_Chi_Minh" in op.get("/ui/alerts").text


def test_pages_and_csv_match_the_filtered_view(web, session_factory, monkeypatch):
    from fleet.web import listing, localtime

    monkeypatch.setattr(listing, "CHUNK_ROWS", 7)  # many chunks, as with 100,000 rows
    _, _, b = web
    raise_some(session_factory, n_devices=120)
    op = b["operator"]
    # keyset pages (listing.keyset_page): every group once, newest last seen first, and back
    pages, url = [], "/ui/alerts?severity=warning"
    while url:
        text = op.get(url).text
        pages.append([r["id"] for r in alert_rows(text)])
        m = NEXT_PAGE.search(text)
        url = m.group(1).replace("&amp;", "&") if m else None
    seen = [i for p in pages for i in p]
    assert [len(p) for p in pages] == [50, 50, 20] and len(set(seen)) == 120
    with session_factory() as db:
        order = [a.id for a in db.scalars(select(Alert).where(Alert.severity == "warning")
                                          .order_by(Alert.last_seen_at.desc(), Alert.id.desc()))]
    assert seen == order
    # the third page by its cursor, and its "newer" link back to the second
    third = op.get("/ui/alerts?severity=warning&before=" + _cursor(session_factory, pages[1][-1])).text
    assert [r["id"] for r in alert_rows(third)] == pages[2]
    prev = PREV_PAGE.search(third).group(1).replace("&amp;", "&")
    assert [r["id"] for r in alert_rows(op.get(prev).text)] == pages[1]
    r = op.get("/ui/alerts.csv?severity=warning")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["Mã / ID", "Mức độ / Severity", "Loại / Kind"]
    assert [int(row[0]) for row in table[1:]] == seen  # same rows, same order as the pages
    assert {row[1] for row in table[1:]} == {"warning"} and {row[12] for row in table[1:]} == {"open"}
    # the time stamps are local time (the page's zone, fleet/web/localtime.py)
    with session_factory() as db:
        last_seen = db.get(Alert, seen[0]).last_seen_at
    assert table[1][11] == localtime.fmt(last_seen, localtime.zone("Asia/Ho_Chi_Minh"))
    lost = list(csv.reader(io.StringIO(op.get("/ui/alerts.csv?kind=REVOKED_PRESENTED")
                                       .content.decode("utf-8-sig"))))
    assert lost[1][8] == LOST and lost[1][9] == "23"


def test_csv_cells_cannot_become_formulas(web, session_factory):
    _, _, b = web
    with session_factory() as db:
        alerts.raise_grouped(db, "INGEST_DEAD_LETTER", DEVICES["B1"], "B1", {"dead_letter": 1},
                             code="=HYPERLINK(\"http://x\")")
        a = db.scalar(select(Alert))
        a.ack_note, a.acknowledged_at, a.acknowledged_by = "@SUM(A1)", utcnow(), "-op"
        db.commit()
    table = list(csv.reader(io.StringIO(b["operator"].get("/ui/alerts.csv?state=all")
                                        .content.decode("utf-8-sig"))))
    row = table[1]
    assert row[13] == "'-op" and row[15] == "'@SUM(A1)"
    assert not any(cell[:1] and cell[0] in "=+-@" for cell in row)
    assert "=HYPERLINK" in row[16]  # inside the JSON detail cell, which starts with "{"


def test_acknowledge_one_and_many_with_a_note(web, session_factory):
    _, _, b = web
    ids = raise_some(session_factory)
    op = b["operator"]
    # one row's own button
    r = op.post("/ui/alerts/ack", {"only": str(ids["tamper"]), "note": "gate cover refitted",
                                   f"ack_{ids['lost']}": "1", "back": "?severity=critical"})
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/alerts?severity=critical&ok=done")
    assert kinds(op.get("/ui/alerts?severity=critical").text) == ["REVOKED_PRESENTED"]
    # many: the ticked rows
    r = op.post("/ui/alerts/ack", {f"ack_{ids['lost']}": "1", f"ack_{ids['clock']}": "1",
                                   "note": "reviewed", "back": "?x=\r\nLocation: evil"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/alerts?ok=done&acked=2"
    assert alert_rows(op.get("/ui/alerts").text) == []
    acked = alert_rows(op.get("/ui/alerts?state=acked").text)
    assert len(acked) == 3 and all("operator" in r["html"] for r in acked)
    assert "gate cover refitted" in next(r["html"] for r in acked if r["kind"] == "TAMPER")
    with session_factory() as db:
        notes = dict(db.execute(select(AuditLog.target_id, AuditLog.detail)
                                .where(AuditLog.action == "alert.ack")).all())
    assert notes[str(ids["tamper"])]["note"] == "gate cover refitted"
    assert notes[str(ids["lost"])] == {"kind": "REVOKED_PRESENTED", "count": 23, "note": "reviewed"}
    # nothing ticked: a clear 400, not a crash; hostile ids: 404 / 400, never a 500
    r = op.post("/ui/alerts/ack", {"note": "x"})
    assert r.status_code == 400 and "Hãy chọn ít nhất một cảnh báo" in r.text
    assert op.post("/ui/alerts/ack", {"ack_999999999999": "1"}).status_code == 404
    assert op.post("/ui/alerts/ack", {"only": "-1"}).status_code == 400
    assert op.post("/ui/alerts/ack", {"only": "1e9"}).status_code == 400
    assert op.post("/ui/alerts/ack", {"ack_0": "1"}).status_code == 404
    assert op.post("/ui/alerts/99999999999999/ack").status_code == 404
    assert op.post("/ui/alerts/ack", {f"ack_{i}": "1" for i in range(1, 502)}).status_code == 400


def test_manager_viewer_and_csrf(web, session_factory):
    _, _, b = web
    ids = raise_some(session_factory)
    mgr = b["manager"]  # of B1
    assert sorted(kinds(mgr.get("/ui/alerts").text)) == ["CLOCK_DRIFT", "REVOKED_PRESENTED"]
    csv_ids = [row[0] for row in csv.reader(io.StringIO(
        mgr.get("/ui/alerts.csv").content.decode("utf-8-sig")))][1:]
    assert str(ids["tamper"]) not in csv_ids and len(csv_ids) == 2
    assert mgr.post("/ui/alerts/ack", {f"ack_{ids['tamper']}": "1"}).status_code == 403
    assert mgr.post(f"/ui/alerts/{ids['tamper']}/ack").status_code == 403
    assert mgr.post("/ui/alerts/ack", {f"ack_{ids['lost']}": "1"}).status_code == 303
    assert b["viewer"].post("/ui/alerts/ack", {f"ack_{ids['clock']}": "1"}).status_code == 403
    assert 'id="ack-selected"' not in b["viewer"].get("/ui/alerts").text
    assert b["operator"].post("/ui/alerts/ack", {f"ack_{ids['clock']}": "1"},
                              csrf=False).status_code == 403
    assert b[None].get("/ui/alerts.csv", follow_redirects=False).status_code == 303  # log in first
    with session_factory() as db:
        assert db.get(Alert, ids["clock"]).acknowledged_at is None
        assert db.get(Alert, ids["tamper"]).acknowledged_at is None


def test_times_are_shown_in_local_time(web, session_factory):
    _, _, b = web
    with session_factory() as db:
        a = alerts.raise_grouped(db, "TAMPER", DEVICES["B1"], "B1", {})
        at = dt.datetime(2026, 9, 30, 23, 30, tzinfo=dt.timezone.utc)  # 06:30 on 1 Oct in HCMC
        a.created_at = a.last_seen_at = at
        db.commit()
    [row] = alert_rows(b["operator"].get("/ui/alerts").text)
    assert row["html"].count("01/10/2026 06:30:00") == 2 and "30/09/2026" not in row["html"]
    assert 'datetime="2026-10-01T06:30:00+07:00"' in row["html"]
