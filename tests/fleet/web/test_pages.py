"""Dashboard routes: every page for every role, business-manager isolation,
CSRF refusal, both languages, and each management action through fleet's
services (checked in the database afterwards)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from web_helpers import DEVICES

from fleet.models import (Alert, AllowlistEntry, AuditLog, Business, ControlOutbox, Device, F0Case,
                          Pass, Revocation, Site)
from fleet.broker_bridge import topics
from fleet.models.base import utcnow
from fleet.services import devices, scans

PAGES = ["/ui/", "/ui/feed", "/ui/charts", "/ui/alerts", "/ui/businesses", "/ui/businesses/B1",
         f"/ui/devices/{DEVICES['B1']}", "/ui/passes", "/ui/revocations", "/ui/f0", "/ui/users",
         "/ui/users/1", "/ui/account"]
# role -> pages it may not open
DENIED = {"admin": set(), "operator": {"/ui/users", "/ui/users/1"},
          "viewer": {"/ui/f0", "/ui/users", "/ui/users/1"},
          "manager": {"/ui/f0", "/ui/revocations", "/ui/users", "/ui/users/1"}}


def ingest(session_factory, device, rows):
    with session_factory() as db:
        scans.ingest_for_device(db, device, rows)
        db.commit()


def ev(seq, h, verdict=True, reason=0):
    return {"seq": seq, "time": int(time.time()), "time_valid": True, "pass_hash": h,
            "verdict": verdict, "reason": reason}


def test_anonymous_is_sent_to_login(web):
    _, _, b = web
    for url in PAGES:
        r = b[None].get(url, follow_redirects=False)
        assert r.status_code == 303, url
        assert r.headers["location"].startswith("/ui/login?next=")
    assert b[None].get("/ui/feed/stream?window=1").status_code == 401
    r = b[None].get("/", follow_redirects=False)
    assert r.headers["location"] == "/ui/"


@pytest.mark.parametrize("role", ["admin", "operator", "manager", "viewer"])
def test_every_page_per_role(web, role):
    _, _, b = web
    for url in PAGES:
        r = b[role].get(url)
        expected = 403 if url in DENIED[role] else 200
        assert r.status_code == expected, (role, url, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        if expected == 403:
            assert "Bạn không có quyền truy cập trang này." in r.text


def test_login_failures_and_logout(web, settings):
    app, _, b = web
    from fastapi.testclient import TestClient

    from web_helpers import Browser

    with TestClient(app) as client:
        fresh = Browser(client)
        r = fresh.login("operator", "wrong-password")
        assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu." in r.text
        # No pre-login token: refused even with the right password.
        r = client.post("/ui/login", data={"username": "operator", "password": "operator-password-1"})
        assert r.status_code == 403
        r = fresh.login("operator", "operator-password-1")
        assert r.status_code == 303 and r.headers["location"] == "/ui/"
        # Open redirect refused: only our own pages.
        page = client.get("/ui/logout")  # GET logout does not exist
        assert page.status_code == 405
        r = fresh.post("/ui/logout")
        assert r.status_code == 303
        assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_login_next_is_local_only(web):
    app, _, _ = web
    from fastapi.testclient import TestClient

    from web_helpers import CSRF_RE

    with TestClient(app) as client:
        page = client.get("/ui/login?next=https://evil.example/")
        assert 'value="/ui/"' in page.text
        token = CSRF_RE.search(page.text).group(1)
        r = client.post("/ui/login", data={"username": "viewer", "password": "viewer-password-1",
                                           "csrf_token": token, "next": "//evil.example/x"},
                        follow_redirects=False)
        assert r.headers["location"] == "/ui/"


def test_csrf_refused(web, session_factory):
    _, _, b = web
    op = b["operator"]
    for data in ({}, {"csrf_token": "0" * 64}):
        r = op.post("/ui/businesses/B1/suspend", {**data, "reason": "x"}, csrf=False)
        assert r.status_code == 403 and "CSRF" in r.text
    # Another user's token does not work either.
    viewer_token = b["viewer"].csrf()
    r = op.post("/ui/businesses/B1/suspend", {"reason": "x", "csrf_token": viewer_token}, csrf=False)
    assert r.status_code == 403
    with session_factory() as db:
        assert db.get(Business, "B1").status == "approved"
    r = op.post("/ui/businesses/B1/suspend", {"reason": "kiểm tra"})
    assert r.status_code == 303
    with session_factory() as db:
        assert db.get(Business, "B1").status == "suspended"


def test_languages(web):
    _, _, b = web
    v = b["viewer"]
    vi = v.get("/ui/").text
    assert "Tổng quan thiết bị" in vi and "Mất kết nối" in vi and 'lang="vi"' in vi
    en = v.get("/ui/?lang=en")
    assert "Fleet overview" in en.text and 'lang="en"' in en.text
    assert en.cookies.get("gg_lang") == "en"
    assert "Businesses" in v.get("/ui/businesses").text  # remembered
    assert "Doanh nghiệp" in v.get("/ui/businesses?lang=vi").text
    assert "Bách hoá Xanh Tân Phong" in v.get("/ui/businesses").text
    assert "Tổng quan" in v.get("/ui/?lang=xx").text  # unknown language: cookie's (vi now)


def test_manager_isolation(web, session_factory):
    _, sites, b = web
    m = b["manager"]
    page = m.get("/ui/").text
    assert DEVICES["B1"] in page and DEVICES["B2"] not in page
    for url in ("/ui/businesses/B2", f"/ui/devices/{DEVICES['B2']}", "/ui/?business=B2",
                "/ui/charts?business=B2"):
        assert m.get(url).status_code == 403, url
    assert "B2" not in m.get("/ui/businesses").text.replace("B2 ", "")
    with session_factory() as db:
        db.add(Alert(kind="TAMPER", device_id=DEVICES["B2"], business_id="B2", detail={}))
        db.add(Alert(kind="TAMPER", device_id=DEVICES["B1"], business_id="B1", detail={}))
        db.commit()
        other = db.scalar(select(Alert.id).where(Alert.business_id == "B2"))
        own = db.scalar(select(Alert.id).where(Alert.business_id == "B1"))
    alerts = m.get("/ui/alerts").text
    assert DEVICES["B1"] in alerts and DEVICES["B2"] not in alerts
    assert m.post(f"/ui/alerts/{other}/ack").status_code == 403
    assert m.post(f"/ui/alerts/{own}/ack").status_code == 303
    assert m.post("/ui/businesses/B2/allowlist", {"pass_hash": "11" * 16}).status_code == 403
    # Its own feed only.
    ingest(session_factory, DEVICES["B1"], [ev(1, "aa" * 16)])
    ingest(session_factory, DEVICES["B2"], [ev(1, "bb" * 16)])
    feed = m.get("/ui/feed").text
    assert "aaaaaaaa" in feed and "bbbbbbbb" not in feed
    stream = m.get("/ui/feed/stream?after=0&window=1").text
    assert "aaaaaaaa" in stream and "bbbbbbbb" not in stream
    # District-only actions.
    for url in ("/ui/businesses/B1/approve", "/ui/f0", "/ui/revocations", "/ui/sites",
                f"/ui/devices/{DEVICES['B1']}/command"):
        assert m.post(url, {"pass_hash": "11" * 16, "reason": "LOST"}).status_code == 403, url


def test_viewer_is_read_only(web, session_factory):
    _, _, b = web
    v = b["viewer"]
    page = v.get("/ui/businesses/B1").text
    assert "csrf_token" in page  # logout form only
    assert "/approve" not in page and "/allowlist\"" not in page
    with session_factory() as db:
        db.add(Alert(kind="TAMPER", device_id=DEVICES["B1"], business_id="B1", detail={}))
        db.commit()
        aid = db.scalar(select(Alert.id))
    for url, data in ((f"/ui/alerts/{aid}/ack", {}), ("/ui/businesses/B1/allowlist", {"pass_hash": "11" * 16}),
                      ("/ui/passes", {"role": "0", "initials": "NVA", "birth_year": "1990"}),
                      ("/ui/businesses/B1/suspend", {"reason": "x"})):
        assert v.post(url, data).status_code == 403, url
    with session_factory() as db:
        assert db.get(Alert, aid).acknowledged_at is None


def test_businesses_search_and_pages(web, session_factory):
    from fleet.models import Business as B
    with session_factory() as db:
        for i in range(60):
            db.add(B(id=f"Z{i:03d}", name=f"Tiệm bánh mì số {i}", sector="takeaway_food", address="1",
                     ward="Tân Phong", operating_mode="3_tai_cho", status="pending"))
        db.commit()
    v = web[2]["viewer"]
    first = v.get("/ui/businesses").text
    assert "Trang 1 trên 2 · Tổng 62" in first and "B1" in first and "Z047" in first and "Z048" not in first
    assert "Z048" in v.get("/ui/businesses?page=2").text
    found = v.get("/ui/businesses?q=bánh mì số 5").text
    assert "Z005" in found and "Z050" in found and "Z006" not in found and "Tổng 11" in found
    assert "Tổng 62" in v.get("/ui/businesses?q=").text
    assert "Tổng 0" in v.get("/ui/businesses?q=%25").text  # a literal %, not a wildcard
    assert "Tổng 60" in v.get("/ui/businesses?status=pending&page=x").text


def test_overview_filters_and_drift(web, session_factory):
    _, _, b = web
    with session_factory() as db:
        # drift = the gate reports an older version than the newest one published to it;
        # pages show the site's list version each message carries, not the message id
        published = ControlOutbox(kind="config", topic=topics.config(DEVICES["B1"]), retain=True,
                                  body={"site_version": 7}, published_at=utcnow())
        db.add(published)
        db.flush()
        devices.apply_state(db, DEVICES["B1"], {"online": True, "firmware": "2.0.1",
                                                 "config_version": published.id - 1,
                                                 "outbox_depth": 7})
        db.commit()
        desired = published.id
    op = b["operator"]
    page = op.get("/ui/?state=online").text
    assert DEVICES["B1"] in page and DEVICES["B2"] not in page and "2.0.1" in page
    assert DEVICES["B1"] not in op.get("/ui/?state=offline").text
    drift = op.get("/ui/?drift=1").text
    assert DEVICES["B1"] in drift and DEVICES["B2"] not in drift
    assert "v0 → v7" in drift and f"v{desired - 1} → v{desired}" not in drift
    assert DEVICES["B2"] in op.get("/ui/?q=gg-0000000000b2").text
    assert DEVICES["B1"] not in op.get("/ui/?q=gg-0000000000b2").text
    assert op.get("/ui/?q=%25").status_code == 200  # LIKE wildcard is escaped
    assert "Trang 1 trên 1" in op.get("/ui/?page=999").text


def test_feed_stream_and_charts(web, session_factory):
    _, _, b = web
    op = b["operator"]
    ingest(session_factory, DEVICES["B1"], [ev(1, "ab" * 16), ev(2, "cd" * 16, False, 12)])
    body = op.get("/ui/feed/stream?after=0&window=1").text
    assert "event: scan" in body and '"hash": "abababab"' in body
    assert "ab" * 16 not in body  # a prefix only, never the whole hash
    assert '"reason": "REVOKED"' in body and "Đã bị thu hồi" in body
    # names beside the codes (issue 12), from the registry
    assert '"business": "B1"' in body and '"business_name": "Bách hoá Xanh Tân Phong"' in body
    assert '"site_name": "Cổng chính B1"' in body
    page = op.get("/ui/feed").text
    assert "Bách hoá Xanh Tân Phong" in page and "Cổng chính B1" in page
    last = max(int(line[4:]) for line in body.splitlines() if line.startswith("id: "))
    again = op.get("/ui/feed/stream?window=1", headers={"Last-Event-ID": str(last)}).text
    assert "event: scan" not in again
    en = op.get("/ui/feed/stream?after=0&window=1&lang=en").text
    assert '"text": "Revoked"' in en
    charts = op.get("/ui/charts?business=B1&range=7d").text
    assert charts.count("<svg class=\"chart\"") == 1 and 'data-business="B1"' in charts
    bogus = op.get("/ui/charts?range=bogus")
    assert bogus.status_code == 400 and "range" in bogus.text
    unknown = op.get("/ui/charts?business=NOPE")
    assert unknown.status_code == 404 and "NOPE" in unknown.text


def test_business_site_allowlist_workflow(web, session_factory):
    _, _, b = web
    op, m = b["operator"], b["manager"]
    r = op.post("/ui/businesses", {"id": "B3", "name": "Cơm tấm Sài Gòn", "sector": "takeaway_food",
                                   "address": "5 Lê Văn Lương", "ward": "Tân Hưng", "zone": "yellow",
                                   "operating_mode": "1_cung_duong_2_diem_den"})
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/businesses/B3")
    # Conditions not met: approval refused with a clear page.
    r = op.post("/ui/businesses/B3/approve")
    assert r.status_code == 409
    assert op.post("/ui/businesses", {"id": "B3", "name": "x"}).status_code == 400
    assert op.post("/ui/sites", {"business_id": "B3", "name": "Cổng sau", "capacity": "40"}).status_code == 303
    with session_factory() as db:
        site = db.scalar(select(Site).where(Site.business_id == "B3"))
        assert site.capacity == 40
    assert op.post(f"/ui/sites/{site.id}/publish").status_code == 303
    # Allowlist: manager drafts for B1, district approves.
    h = "12" * 16
    assert m.post("/ui/businesses/B1/allowlist", {"pass_hash": h}).status_code == 303
    assert m.post("/ui/businesses/B1/allowlist", {"pass_hash": "not-hex"}).status_code == 400
    with session_factory() as db:
        entry = db.scalar(select(AllowlistEntry).where(AllowlistEntry.pass_hash == h))
        assert entry.status == "draft" and entry.drafted_by == "manager"
    assert m.post(f"/ui/allowlist/{entry.id}/approve").status_code == 403
    assert op.post(f"/ui/allowlist/{entry.id}/approve").status_code == 303
    assert "Đã duyệt" in m.get("/ui/businesses/B1").text
    assert m.post(f"/ui/allowlist/{entry.id}/remove").status_code == 303
    with session_factory() as db:
        assert db.get(AllowlistEntry, entry.id).status == "removed"
        assert db.scalar(select(AuditLog).where(AuditLog.action == "allowlist.approved")) is not None


def test_device_commands_and_move(web, session_factory):
    _, sites, b = web
    op = b["operator"]
    gate = DEVICES["B1"]
    for cmd in ("sync", "reboot", "open_gate", "screenshot"):
        assert op.post(f"/ui/devices/{gate}/command", {"command": cmd}).status_code == 303
    assert op.post(f"/ui/devices/{gate}/command", {"command": "show_message", "vi": "Xin chào",
                                                   "en": "Hello"}).status_code == 303
    assert op.post(f"/ui/devices/{gate}/command", {"command": "self_destruct"}).status_code == 400
    with session_factory() as db:
        kinds = [r.body.get("command") for r in db.scalars(
            select(ControlOutbox).where(ControlOutbox.kind == "command"))]
        assert sorted(kinds) == ["open_gate", "reboot", "screenshot", "show_message", "sync"]
    assert op.post(f"/ui/devices/{gate}/update", {"site_id": str(sites["B2"])}).status_code == 303
    with session_factory() as db:
        assert db.get(Device, gate).site_id == sites["B2"]
    assert op.post(f"/ui/devices/{gate}/update", {"site_id": "abc"}).status_code == 400
    assert op.get("/ui/devices/gg-ffffffffffff").status_code == 404


def test_passes_card_and_revocation(web, session_factory):
    _, _, b = web
    op, m = b["operator"], b["manager"]
    r = op.post("/ui/passes", {"role": "0", "initials": "NVA", "birth_year": "1985", "valid_days": "30"})
    assert r.status_code == 201 and "<svg" in r.text
    with session_factory() as db:
        p = db.scalar(select(Pass))
    assert p.pass_hash in r.text
    import re
    qr_text = re.search(r'name="qr_text" value="([^"]+)"', r.text).group(1)
    pdf = op.post(f"/ui/passes/{p.pass_hash}/card.pdf", {"qr_text": qr_text})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Managers issue worker passes for their own business only.
    assert m.post("/ui/passes", {"role": "0", "initials": "TTB", "birth_year": "1990"}).status_code == 403
    assert m.post("/ui/passes", {"role": "1", "initials": "TTB", "birth_year": "1990",
                                 "business_id": "B2"}).status_code == 403
    assert m.post("/ui/passes", {"role": "1", "initials": "TTB", "birth_year": "1990",
                                 "business_id": "B1"}).status_code == 201
    assert "TTB" in m.get("/ui/passes").text and "NVA" not in m.get("/ui/passes").text
    assert op.post("/ui/passes", {"role": "9", "initials": "X", "birth_year": "1990"}).status_code == 400
    # Revocation through the page: a new list version.
    assert op.post("/ui/revocations", {"pass_hash": p.pass_hash, "reason": "LOST"}).status_code == 303
    assert op.post("/ui/revocations", {"pass_hash": p.pass_hash, "reason": "LOST"}).status_code == 409
    assert op.post("/ui/revocations", {"pass_hash": "zz", "reason": "LOST"}).status_code == 400
    with session_factory() as db:
        assert db.scalar(select(Revocation.version).where(Revocation.pass_hash == p.pass_hash)) == 1
        assert db.scalar(select(Pass.status).where(Pass.id == p.id)) == "revoked"
    assert "Mất thẻ" in op.get("/ui/revocations").text
    # Lifting it from the page: removed on the next delta, the pass is active again.
    assert f'action="/ui/revocations/{p.pass_hash}/lift"' in op.get("/ui/revocations").text
    assert m.post(f"/ui/revocations/{p.pass_hash}/lift", {"reason": "FOUND"}).status_code == 403
    note = "Chủ thẻ mang thẻ đến phường, đã đối chiếu"
    assert op.post(f"/ui/revocations/{p.pass_hash}/lift", {"reason": "nope", "note": note}).status_code == 400
    # the dashboard requires the operator's own words (blank or too long: a clear 400)
    for bad in ("", "   ", "x" * 301):
        r = op.post(f"/ui/revocations/{p.pass_hash}/lift", {"reason": "FOUND", "note": bad})
        assert r.status_code == 400 and "Hãy ghi lý do gỡ thu hồi" in r.text
    r = op.post(f"/ui/revocations/{p.pass_hash}/lift", {"reason": "FOUND", "note": note})
    assert r.status_code == 303 and r.headers["location"] == "/ui/revocations?ok=rev.lifted_done"
    assert op.post(f"/ui/revocations/{p.pass_hash}/lift", {"reason": "FOUND", "note": note}).status_code == 409
    with session_factory() as db:
        row = db.scalar(select(Revocation).where(Revocation.pass_hash == p.pass_hash))
        assert (row.active, row.lift_reason, row.lifted_by, row.version) == (False, "FOUND", "operator", 2)
        assert row.lift_note == note
        assert db.scalar(select(Pass.status).where(Pass.id == p.id)) == "active"
        rec = db.scalar(select(AuditLog).where(AuditLog.action == "pass.unrevoke"))
        assert (rec.actor, rec.target_id, rec.detail) == (
            "operator", p.pass_hash, {"reason": "FOUND", "version": 2, "note": note})
    page = op.get("/ui/revocations?ok=rev.lifted_done").text
    assert "Đã gỡ thu hồi: Đã tìm lại thẻ" in page and note in page
    assert "Đã gỡ thu hồi; bản cập nhật đang được gửi tới mọi cổng." in page
    assert f'action="/ui/revocations/{p.pass_hash}/lift"' not in page


def test_f0_workflow_pages(web, session_factory):
    _, _, b = web
    op = b["operator"]
    f0_hash, contact = "f0" * 16, "c0" * 16
    ingest(session_factory, DEVICES["B1"], [ev(1, f0_hash), ev(2, contact)])
    r = op.post("/ui/f0", {"pass_hash": f0_hash, "days": "14", "hours": "2"})
    assert r.status_code == 303
    with session_factory() as db:
        case = db.scalar(select(F0Case))
    page = op.get(f"/ui/f0/{case.id}").text
    assert contact in page and "B1" in page
    assert op.post(f"/ui/f0/{case.id}/suspend").status_code == 303
    with session_factory() as db:
        assert db.get(Business, "B1").status == "suspended"
        assert db.get(Business, "B2").status == "approved"
    page = op.get(f"/ui/f0/{case.id}").text
    assert "TẠM DỪNG" in page
    for action in ("pass.revoke", "f0.mark", "f0.exposure", "f0.suspend", "business.suspended"):
        assert f"<code>{action}</code>" in page, action
    assert op.post("/ui/businesses/B1/reinstate", {"back": f"/ui/f0/{case.id}"}).headers["location"] \
        == f"/ui/f0/{case.id}?ok=done"
    assert op.post("/ui/businesses/B1/reinstate").status_code == 409  # not suspended any more
    assert op.post(f"/ui/f0/{case.id}/close").status_code == 303
    assert op.post(f"/ui/f0/{case.id}/suspend").status_code == 409
    assert op.get("/ui/f0/999").status_code == 404
    with session_factory() as db:
        actions = set(db.scalars(select(AuditLog.action)))
    assert {"f0.mark", "f0.exposure", "f0.suspend", "f0.close", "business.suspended",
            "business.approved", "pass.revoke"} <= actions


def test_alerts_evaluate_and_ack(web, session_factory):
    from web_helpers import alert_rows

    _, _, b = web
    op = b["operator"]
    with session_factory() as db:
        devices.apply_state(db, DEVICES["B1"], {"online": True, "tamper": True})
        db.commit()
    assert op.post("/ui/alerts/evaluate").status_code == 303
    assert [r["kind"] for r in alert_rows(op.get("/ui/alerts").text)] == ["TAMPER"]
    assert "Nghi bị can thiệp" in op.get("/ui/alerts").text
    with session_factory() as db:
        aid = db.scalar(select(Alert.id).where(Alert.kind == "TAMPER"))
    assert op.post(f"/ui/alerts/{aid}/ack").status_code == 303
    assert op.post(f"/ui/alerts/{aid}/ack").status_code == 409
    assert alert_rows(op.get("/ui/alerts").text) == []
    assert [r["kind"] for r in alert_rows(op.get("/ui/alerts?state=all").text)] == ["TAMPER"]
    assert b["viewer"].post("/ui/alerts/evaluate").status_code == 403


def test_feed_stream_resume_far_behind_jumps_ahead(web, session_factory):
    _, _, b = web
    ingest(session_factory, DEVICES["B1"], [ev(i, f"{i:032x}") for i in range(1, 31)])
    with session_factory() as db:
        for start in range(31, 631, 30):
            scans.ingest_for_device(db, DEVICES["B1"], [ev(i, f"{i:032x}") for i in range(start, start + 30)])
        db.commit()
    body = b["operator"].get("/ui/feed/stream?after=0&window=1").text
    ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    # 630 stored, only the newest 500 are replayed (ids 131..630), then the ping.
    assert len(ids) == 501 and ids[0] == 131 and ids[-2] == 630 and ids[-1] == 630
    # A feed page with nothing shown resumes after the newest scan, not from 0.
    page = b["operator"].get("/ui/feed").text
    assert 'data-after="630"' in page


def test_login_throttled_page(web, settings, session_factory):
    import re

    from fastapi.testclient import TestClient

    from web_helpers import Browser, make_app

    slow = settings.model_copy(update={"login_delay_base_s": 600.0})
    with TestClient(make_app(slow, session_factory)) as client:
        fresh = Browser(client)
        for _ in range(settings.login_user_failures):
            assert fresh.login("ghost-user", "wrong-password").status_code == 401
        r = fresh.login("ghost-user", "wrong-password")
        assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= settings.login_delay_max_s
        wait = int(r.headers["Retry-After"])
        assert 590 <= wait <= 600
        assert f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {wait} giây." in r.text
        client.get("/ui/login?lang=en")
        r = fresh.login("ghost-user", "wrong-password")
        assert r.status_code == 429
        assert re.search(r"Too many failed sign-ins. Please try again in \d+ s\.", r.text)


def test_security_headers_and_no_inline_code_on_every_page(web):
    import re

    _, _, b = web
    for url in [*PAGES, "/ui/login", "/ui/static/feed.js", "/ui/nope"]:
        r = b["admin"].get(url) if url != "/ui/login" else b[None].get(url)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp, url
        assert "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        if r.headers["content-type"].startswith("text/html"):
            # what the policy would block: inline scripts, handlers, styles, javascript: URLs
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), url
            assert not re.search(r"\son[a-z]+\s*=|\sstyle\s*=|<style|javascript:", r.text, re.I), url


def test_grouped_control_alert_on_the_alerts_page(web, session_factory):
    from greengate.passes import reasons

    _, _, b = web
    with session_factory() as db:
        for version in (4, 5, 6):
            devices.apply_state(db, DEVICES["B1"], {"online": True, "last_control_error": [
                1, reasons.code("CTRL_EXPIRED"), version]})
            db.commit()
    from web_helpers import alert_rows

    [row] = alert_rows(b["operator"].get("/ui/alerts").text)
    assert row["kind"] == "CONTROL_REJECTED" and row["count"] == 3
    assert "reason=CTRL_EXPIRED" in row["html"] and "version=6" in row["html"]
    assert "Cổng từ chối thông điệp điều khiển" in row["html"]
    [row] = alert_rows(b["operator"].get("/ui/alerts?lang=en").text)
    assert "Gate refused a control message" in row["html"]


def test_alerts_csv_export(web, session_factory):
    """/ui/alerts.csv (alert_list.py on the listing layer): the alerts the
    filters pick, streamed, scoped for managers."""
    import csv
    import io

    _, _, b = web
    ingest(session_factory, DEVICES["B1"], [ev(1, "ab" * 16, False, 12)])  # REVOKED_PRESENTED
    ingest(session_factory, DEVICES["B2"], [ev(1, "cd" * 16, False, 12)])

    def rows(browser, query: str = "") -> list[list[str]]:
        r = browser.get("/ui/alerts.csv" + query)
        assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert table[0][2] == "Loại / Kind" and table[0][4] == "Mã doanh nghiệp / Business code"
        assert table[0][5:8] == ["Doanh nghiệp / Business", "Mã địa điểm / Site id", "Địa điểm / Site"]
        return table[1:]

    op, m = b["operator"], b["manager"]
    assert sorted(r[4] for r in rows(op)) == ["B1", "B2"]
    # names beside the codes (issue 12): the business's, and the gate's site
    assert sorted((r[4], r[5], r[7]) for r in rows(op)) == [
        ("B1", "Bách hoá Xanh Tân Phong", "Cổng chính B1"), ("B2", "Nhà thuốc Long Châu", "Cổng chính B2")]
    with session_factory() as db:
        site_b1 = db.scalar(select(Device.site_id).where(Device.id == DEVICES["B1"]))
    assert [r[6] for r in rows(op, "?business=B1")] == [str(site_b1)]
    assert [r[4] for r in rows(op, "?business=B2")] == ["B2"]
    assert [r[2] for r in rows(op, "?q=revoked")] == ["REVOKED_PRESENTED"] * 2
    assert rows(op, "?q=TAMPER") == []
    assert [r[4] for r in rows(m)] == ["B1"]
    assert m.get("/ui/alerts.csv?business=B2").status_code == 403
    assert op.get("/ui/alerts.csv?range=nope").status_code == 400


HOSTILE_BIZ = '=HYPERLINK("http://x")<script>alert(1)</script>'
HOSTILE_SITE = '@SUM(A1) <img src=x onerror=alert(2)> & "q"\nnext line'


def _rename_hostile(session_factory) -> None:
    with session_factory() as db:
        db.get(Business, "B1").name = HOSTILE_BIZ
        db.scalars(select(Site).where(Site.business_id == "B1")).one().name = HOSTILE_SITE
        db.commit()


def test_hostile_names_are_escaped_in_the_feed_and_its_stream(web, session_factory):
    """Names typed by people reach the feed page HTML-escaped, and the event
    stream as JSON with <, > and & escaped and the newline inside the string
    (so a name can neither open a tag nor end the event)."""
    import html
    import json

    _, _, b = web
    _rename_hostile(session_factory)
    ingest(session_factory, DEVICES["B1"], [ev(1, "ab" * 16)])
    op = b["operator"]
    page = op.get("/ui/feed").text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert html.escape(HOSTILE_BIZ, quote=False) in page.replace("&#34;", '"').replace("&#39;", "'")
    body = op.get("/ui/feed/stream?after=0&window=1").text
    assert "<" not in body and ">" not in body and "&" not in body
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {\"")]
    assert len(events) == 1  # the newline in the name did not split the event
    e = events[0]
    assert (e["business"], e["business_name"], e["site_name"]) == ("B1", HOSTILE_BIZ, HOSTILE_SITE)
    # a filtered stream carries the names too (filters are applied in the stream)
    body = op.get("/ui/feed/stream?after=0&window=1&business=B1&verdict=accepted").text
    assert [json.loads(line[6:])["business_name"] for line in body.splitlines()
            if line.startswith("data: {\"")] == [HOSTILE_BIZ]
    assert "data: {\"" not in op.get("/ui/feed/stream?after=0&window=1&business=B2").text


def test_hostile_names_cannot_become_formulas_in_the_alerts_csv(web, session_factory):
    import csv
    import io

    _, _, b = web
    _rename_hostile(session_factory)
    ingest(session_factory, DEVICES["B1"], [ev(1, "ab" * 16, False, 12)])  # REVOKED_PRESENTED
    r = b["operator"].get("/ui/alerts.csv?business=B1")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(table) == 2
    row = table[1]
    assert row[5] == "'" + HOSTILE_BIZ and row[7] == "'" + HOSTILE_SITE
    assert not any(cell[:1] and cell[0] in "=+-@\t\r" for cell in row)
    en = list(csv.reader(io.StringIO(b["operator"].get("/ui/alerts.csv?business=B1&lang=en")
                                     .content.decode("utf-8-sig"))))
    assert en[1][7] == "'" + HOSTILE_SITE  # no English name: the Vietnamese one, still neutralised


def test_feed_names_are_read_once_not_per_event(web, session_factory, engine):
    """40 scans at two sites: the page and the stream each read the sites'
    names in one statement (queries.place_names), not one per event."""
    import json

    from sqlalchemy import event

    _, _, b = web
    ingest(session_factory, DEVICES["B1"], [ev(i, f"{i:032x}") for i in range(1, 21)])
    ingest(session_factory, DEVICES["B2"], [ev(i, f"{i + 100:032x}") for i in range(1, 21)])
    statements: list[str] = []

    def seen(conn, cursor, statement, params, context, executemany):  # noqa: ANN001, ARG001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = b["operator"].get("/ui/feed").text
        page_reads = sum("site.name_en" in s for s in statements)
        statements.clear()
        body = b["operator"].get("/ui/feed/stream?after=0&window=1").text
        stream_reads = sum("site.name_en" in s for s in statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith('data: {"')]
    assert len(events) == 40 and {e["business_name"] for e in events} == {
        "Bách hoá Xanh Tân Phong", "Nhà thuốc Long Châu"}
    assert page.count("Nhà thuốc Long Châu") >= 20
    assert (page_reads, stream_reads) == (1, 1)
