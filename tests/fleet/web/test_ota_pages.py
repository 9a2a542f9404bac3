"""Firmware pages (fleet/web/views_ota.py): who may read and who may steer,
CSRF, per-wave progress bars and per-gate status with reasons, and the
buttons driving fleet.services.ota (checked in the database afterwards)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ota_helpers import report, started_campaign

from fleet.models import AuditLog, Campaign


@pytest.fixture
def campaign(web, session_factory):
    with session_factory() as db:
        c, offered = started_campaign(db, 40, "Đợt thử", pause_s=3600, failure_threshold_pct=50)
        report(db, offered[0], 7, 1, 42, 0, c.id)            # downloading 42 %
        report(db, offered[1], 7, 6, 100, 55, c.id)          # rolled back
        report(db, offered[2], 7, 4, 100, 0, c.id)           # probation
        db.commit()
        return c.id, offered


def test_pages_per_role(web, campaign):
    _, _, b = web
    cid, _ = campaign
    for role in ("admin", "operator", "viewer"):
        for url in ("/ui/firmware", f"/ui/firmware/campaigns/{cid}"):
            r = b[role].get(url)
            assert r.status_code == 200, (role, url)
    assert b["manager"].get("/ui/firmware").status_code == 403
    assert b["manager"].get(f"/ui/firmware/campaigns/{cid}").status_code == 403
    assert b[None].get("/ui/firmware", follow_redirects=False).status_code == 303
    assert b["admin"].get("/ui/firmware/campaigns/999").status_code == 404
    assert 'href="/ui/firmware"' in b["operator"].get("/ui/").text
    assert 'href="/ui/firmware"' not in b["manager"].get("/ui/").text


def test_campaign_page_shows_waves_and_gates(web, campaign):
    _, _, b = web
    cid, offered = campaign
    page = b["operator"].get(f"/ui/firmware/campaigns/{cid}").text
    assert "Đợt thử" in page and "Đang chạy" in page
    wave0 = re.search(r'<tr data-wave="0".*?</tr>', page, re.S).group(0)
    assert '<progress max="4" value="1">' in wave0              # 1 of 4 finished (the rollback)
    assert re.search(r'<tr data-device="%s" data-status="downloading">.*?<progress max="100" value="42">'
                     % offered[0], page, re.S)
    rolled = re.search(r'<tr data-device="%s" data-status="rolled_back">.*?</tr>' % offered[1], page, re.S)
    assert "Đã khôi phục bản cũ" in rolled.group(0) and "55" in rolled.group(0)
    assert "Đang thử nghiệm" in page
    # the operator reads but does not steer
    assert "/pause" not in page and "Chỉ quản trị viên" in page
    en = b["operator"].get(f"/ui/firmware/campaigns/{cid}?lang=en").text
    assert "Rolled back" in en and "Probation" in en
    only = b["operator"].get(f"/ui/firmware/campaigns/{cid}?status=rolled_back").text
    assert only.count('data-status="') == 1
    listing = b["viewer"].get("/ui/firmware").text
    assert 'data-release="7"' in listing and f'data-campaign="{cid}"' in listing
    assert 'id="new-campaign"' not in listing


def test_admin_steers_with_csrf(web, campaign, session_factory):
    _, _, b = web
    cid, _ = campaign
    url = f"/ui/firmware/campaigns/{cid}"
    assert b["admin"].post(url + "/pause", csrf=False).status_code == 403
    for role in ("operator", "viewer", "manager"):
        assert b[role].post(url + "/pause").status_code == 403, role
    r = b["admin"].post(url + "/pause")
    assert r.status_code == 303 and r.headers["location"] == url + "?ok=done"
    assert "Tiếp tục" in b["admin"].get(url).text
    r = b["admin"].post(url + "/pause")                         # already paused
    assert r.status_code == 409 and "CAMPAIGN_STATE" in r.text
    assert b["admin"].post(url + "/resume").status_code == 303
    assert b["admin"].post(url + "/explode").status_code == 404
    assert b["admin"].post(url + "/cancel").status_code == 303
    with session_factory() as db:
        assert db.get(Campaign, cid).state == "cancelled"
        actions = db.scalars(select(AuditLog.action).where(AuditLog.target_id == str(cid),
                                                           AuditLog.actor == "admin")).all()
    assert {"ota.campaign.pause", "ota.campaign.resume", "ota.campaign.cancel"} <= set(actions)


def test_admin_creates_and_starts_a_campaign(web, campaign, session_factory):
    _, _, b = web
    form = {"release": "7", "name": "Toàn quận", "target": "ward:Tân Phong", "waves": "1,10,100",
            "pause_s": "0", "threshold": "2", "max_in_flight": "100"}
    assert 'id="new-campaign"' in b["admin"].get("/ui/firmware").text
    assert b["operator"].post("/ui/firmware/campaigns", form).status_code == 403
    for bad in ({"waves": "10,5"}, {"target": "nowhere"}, {"release": "8"}, {"threshold": "101"}):
        r = b["admin"].post("/ui/firmware/campaigns", {**form, **bad})
        assert r.status_code in (400, 404), bad
    r = b["admin"].post("/ui/firmware/campaigns", form)
    assert r.status_code == 303
    new = int(re.search(r"/campaigns/(\d+)", r.headers["location"]).group(1))
    assert "Bản nháp" in b["admin"].get(f"/ui/firmware/campaigns/{new}").text
    assert b["admin"].post(f"/ui/firmware/campaigns/{new}/start").status_code == 303
    with session_factory() as db:
        assert db.get(Campaign, new).state == "running"
