"""Dashboard fixes from the operator walk-through (issue 12, "seen today"):
one version number per list, local time with the zone stated once, an HTML
404 page, a favicon, a title per page, unknown businesses said so, expired
and revoked passes shown as such, the F0 empty state and readable hashes."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from web_helpers import DEVICES

from fleet.broker_bridge import topics
from fleet.core.config import Settings
from fleet.models import AllowlistEntry, ControlOutbox, Device, Pass, Site, utcnow
from fleet.services import control, devices, revocations, scans
from fleet.web import localtime

PAGES = ["/ui/", "/ui/feed", "/ui/charts", "/ui/alerts", "/ui/businesses", "/ui/businesses/B1",
         f"/ui/devices/{DEVICES['B1']}", "/ui/passes", "/ui/revocations", "/ui/f0", "/ui/users",
         "/ui/users/1", "/ui/account", "/ui/nope"]
TITLE = re.compile(r"<title>(.*?)</title>", re.S)
ZONE_TEXT = "Asia/Ho_Chi_Minh (UTC+07:00)"


def _publish_all(db) -> None:
    for row in db.scalars(select(ControlOutbox).where(ControlOutbox.published_at.is_(None))):
        row.published_at = utcnow()


def test_unknown_ui_address_is_an_html_404(web):
    _, _, b = web
    for who in ("operator", None):
        r = b[who].get("/ui/no/such/page?x=1")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "Không có trang này (404)" in r.text and "<title>Lỗi 404" in r.text
        assert r.headers["cache-control"] == "no-store"
    en = b["viewer"].get("/ui/nothing-here?lang=en").text
    assert "There is no such page (404)" in en
    # the API and the static files keep their own answers
    api = b["operator"].get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    assert b[None].get("/ui/static/nope.css").status_code == 404
    assert "<html" not in b[None].get("/ui/static/nope.css").text


def test_favicon_and_a_title_per_page(web):
    _, _, b = web
    for url in ("/favicon.ico", "/ui/static/favicon.svg"):
        r = b[None].get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        assert r.text.startswith("<svg") and "<script" not in r.text
    titles = {}
    for url in PAGES:
        page = b["admin"].get(url).text
        assert '<link rel="icon" href="/ui/static/favicon.svg"' in page
        titles[url] = TITLE.search(page).group(1)
    assert len(set(titles.values())) == len(PAGES), titles
    assert titles["/ui/businesses/B1"] == "Bách hoá Xanh Tân Phong (B1) – GreenGate"
    assert titles[f"/ui/devices/{DEVICES['B1']}"] == f"Thiết bị {DEVICES['B1']} – GreenGate"
    assert TITLE.search(b[None].get("/ui/login").text).group(1) == "Đăng nhập hệ thống – GreenGate"


def test_charts_of_an_unknown_business_say_so(web):
    _, _, b = web
    r = b["operator"].get("/ui/charts?business=NOPE")
    assert r.status_code == 404 and "Không có doanh nghiệp mã “NOPE”" in r.text
    assert "<svg" not in r.text
    assert b["operator"].get("/ui/charts?business=B1").status_code == 200
    # a manager asking for another business is refused before existence is told
    assert b["manager"].get("/ui/charts?business=NOPE").status_code == 403


def test_local_time_everywhere_with_the_zone_once(web, session_factory):
    _, _, b = web
    at = int(time.time()) - 3600
    with session_factory() as db:
        scans.ingest_for_device(db, DEVICES["B1"], [{"seq": 1, "time": at, "time_valid": True,
                                                      "pass_hash": "ab" * 16, "verdict": True,
                                                      "reason": 0}])
        devices.apply_state(db, DEVICES["B1"], {"online": True})
        db.get(Device, DEVICES["B1"]).clock_drift_s = -0.4  # rounds to 0: never "-0 s"
        db.commit()
        seen = db.get(Device, DEVICES["B1"]).last_seen
    hcm = localtime.zone("Asia/Ho_Chi_Minh")
    local_scan = dt.datetime.fromtimestamp(at, dt.timezone(dt.timedelta(hours=7)))
    utc_scan = dt.datetime.fromtimestamp(at, dt.timezone.utc)
    op = b["operator"]
    feed = op.get("/ui/feed").text
    assert local_scan.strftime("%d/%m/%Y %H:%M:%S") in feed
    assert utc_scan.strftime("%H:%M:%S") not in feed and "(UTC)" not in feed
    stream = op.get("/ui/feed/stream?after=0&window=1").text
    assert local_scan.strftime("%d/%m/%Y %H:%M:%S") in stream
    overview = op.get("/ui/").text
    assert localtime.fmt(seen, hcm) in overview
    assert seen.strftime("%d/%m/%Y %H:%M:%S") not in overview  # UTC is 7 h away
    for url in PAGES[:-1]:
        page = b["admin"].get(url).text
        assert page.count(ZONE_TEXT) == 1, url
    device = op.get(f"/ui/devices/{DEVICES['B1']}").text
    assert "-0 giây" not in device and "-0 giây" not in overview and "0 giây" in device
    charts = op.get("/ui/charts?business=B1").text
    assert "Giờ địa phương (UTC+07:00)" in charts


def test_timezone_setting_is_checked():
    assert localtime.signed_seconds(-0.49) == "0" and localtime.signed_seconds(-3.6) == "-4"
    assert localtime.signed_seconds(12) == "+12"
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(demo=True, timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(demo=True, timezone="../../etc/passwd")
    utc = localtime.zone(Settings(demo=True, timezone="UTC").timezone)
    assert localtime.zone_label(utc) == "UTC (UTC+00:00)"
    assert localtime.fmt(0, utc) == "01/01/1970 00:00:00"


def test_one_version_per_list_on_every_page(web, session_factory):
    _, sites, b = web
    gate = DEVICES["B1"]
    with session_factory() as db:
        for _ in range(4):  # other messages push outbox ids past the list versions
            control.enqueue_trust_list(db)
        revocations.revoke(db, "a1" * 16, "LOST", "operator")
        revocations.revoke(db, "b2" * 16, "LOST", "operator")
        site = db.get(Site, sites["B1"])
        control.enqueue_site_config(db, site)
        control.enqueue_site_config(db, site)
        _publish_all(db)
        cfg_msg = control.desired_version(db, topics.config(gate))
        rev_msg = control.desired_version(db, topics.REVOCATION)
        devices.apply_state(db, gate, {"online": True, "config_version": cfg_msg,
                                       "revocation_version": rev_msg})
        other = DEVICES["B2"]  # up to date as well
        devices.apply_state(db, other, {"online": True, "revocation_version": rev_msg,
                                        "config_version": control.desired_version(
                                            db, topics.config(other))})
        db.commit()
        assert cfg_msg > 2 and rev_msg > 2  # message ids differ from the list versions
    op = b["operator"]
    device = op.get(f"/ui/devices/{gate}").text
    assert re.search(r'id="config-version"><span class="listv">v2</span>', device)
    assert re.search(r'id="revocation-version"><span class="listv">v2</span>', device)
    overview = op.get("/ui/").text
    assert "Phiên bản danh sách thu hồi hiện tại: <b>v2</b>" in overview
    assert "Phiên bản danh sách thu hồi hiện tại: <b>v2</b>" in op.get("/ui/revocations").text
    row = overview.split(f'data-device="{gate}"')[1].split("</tr>")[0]
    assert row.count('<span class="listv">v2</span>') == 2 and "→" not in row
    assert '<b id="n-drift">0</b>' in overview  # the drift tile agrees
    assert "v2" in op.get("/ui/businesses/B1").text  # the site's counter, the same number
    with session_factory() as db:  # a third change, published: the gate lags by one
        control.enqueue_site_config(db, db.get(Site, sites["B1"]))
        _publish_all(db)
        db.commit()
    row = op.get("/ui/?drift=1").text.split(f'data-device="{gate}"')[1].split("</tr>")[0]
    assert "v2 → v3" in row


def test_passes_and_allowlist_show_what_is_true_now(web, session_factory):
    _, _, b = web
    now = utcnow()
    worker, old, fine = "c1" * 16, "e1" * 16, "f1" * 16
    with session_factory() as db:
        for h, cti, expires in ((worker, "01", now + dt.timedelta(days=9)),
                                (old, "02", now - dt.timedelta(minutes=1)),
                                (fine, "03", now + dt.timedelta(days=9))):
            db.add(Pass(pass_hash=h, cti=cti * 16, iss="HCM-Q7", role=1, initials="NVA",
                        birth_year=1990, business_id="B1", status="active",
                        issued_at=now - dt.timedelta(days=30), expires_at=expires))
            db.add(AllowlistEntry(business_id="B1", pass_hash=h, status="approved",
                                  drafted_by="manager", approved_by="operator"))
        db.commit()
    op = b["operator"]
    assert op.post("/ui/f0", {"pass_hash": worker}).status_code == 303

    def cell(page: str, h: str, cls: str) -> str:
        return page.split(f'data-pass="{h}"')[1].split(f'class="{cls}">')[1].split("<")[0]

    passes = op.get("/ui/passes").text
    assert cell(passes, old, "pstatus") == "Hết hạn"
    assert cell(passes, worker, "pstatus") == "F0"
    assert cell(passes, fine, "pstatus") == "Còn hiệu lực"
    allow = op.get("/ui/businesses/B1").text
    assert cell(allow, worker, "astatus") == "Thẻ bị thu hồi (F0)"
    assert cell(allow, old, "astatus") == "Thẻ hết hạn"
    assert cell(allow, fine, "astatus") == "Đã duyệt"
    with session_factory() as db:  # the stored decision is untouched: display only
        assert {e.status for e in db.scalars(select(AllowlistEntry))} == {"approved"}


def test_f0_empty_state_and_readable_hashes(web, session_factory):
    _, _, b = web
    op = b["operator"]
    empty = op.get("/ui/f0").text
    assert 'id="f0-empty"' in empty and "Chưa có ca F0 nào" in empty and 'id="f0-cases"' not in empty
    t = int(time.time())
    contacts = ["c%d" % i * 16 for i in range(1, 4)]
    with session_factory() as db:
        scans.ingest_for_device(db, DEVICES["B1"], [
            {"seq": i + 1, "time": t - 60 + i, "time_valid": True, "pass_hash": h, "verdict": True,
             "reason": 0} for i, h in enumerate(["f0" * 16, *contacts])])
        db.commit()
    assert op.post("/ui/f0", {"pass_hash": "f0" * 16}).status_code == 303
    listed = op.get("/ui/f0").text
    assert 'id="f0-empty"' not in listed and 'id="f0-cases"' in listed
    case = op.get("/ui/f0/1").text
    exposure = case.split('id="exposure"')[1].split("</table>")[0]
    items = re.findall(r'<li><code class="hash" title="([0-9a-f]{32})">((?:<span>[0-9a-f]{8}</span>){4})</code></li>',
                       exposure)
    assert sorted(h for h, _ in items) == sorted(contacts)
