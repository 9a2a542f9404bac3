"""Firmware releases and rollout campaigns over the API (fleet/api/routes/ota.py):
the same JSON the CLI prints with --json (fleet/cli_ota.py prints these
services' dicts with json.dumps(default=str)), district readers only, admin
actions audited under the caller's name, bad input a clear 4xx with a code."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from ota_helpers import publish, report, started_campaign

from fleet.models import AuditLog
from fleet.services import ota, releases


def as_cli_json(data):  # noqa: ANN001, ANN201
    """What `greengate fleet ... --json` prints for these dicts (fleet.cli._out)."""
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


@pytest.fixture
def campaign(api, session_factory):
    """Releases 7 and 8, a running campaign of release 7 over 20 gates (waves
    10 %, 100 %): one gate downloading at 40 %, one failed (a threshold of 60 %
    keeps one failure of the two-gate first wave from halting it)."""
    with session_factory() as db:
        c, offered = started_campaign(db, 20, "Đợt thử", failure_threshold_pct=60)
        publish(db, 8)
        report(db, offered[0], 7, 1, 40, 0, c.id)          # downloading 40 %
        report(db, offered[1], 7, 7, 0, 3, c.id)           # failed
        db.commit()
        return c.id, offered


def audit(session_factory, action: str) -> list[tuple[str, str]]:
    with session_factory() as db:
        return [(a.actor, a.target_id) for a in db.scalars(select(AuditLog).where(AuditLog.action == action))]


def test_reads_are_the_clis_json(api, session_factory, campaign):
    cid, offered = campaign
    with session_factory() as db:
        want_releases = as_cli_json([releases.summary(r) for r in releases.list_releases(db)])
        c = ota.get(db, cid)
        want_list = as_cli_json([ota.summary(db, x) for x in ota.list_campaigns(db)])
        want_one = as_cli_json({**ota.summary(db, c), "device_status": ota.device_rows(db, cid)})
    for role in ("admin", "operator", "viewer"):
        r = api.as_(role).get("/api/v1/releases")
        assert r.status_code == 200 and r.json() == want_releases, role
        assert [x["number"] for x in r.json()] == [8, 7]
    assert api.as_("viewer").get("/api/v1/campaigns").json() == want_list
    one = api.as_("operator").get(f"/api/v1/campaigns/{cid}").json()
    assert one == want_one
    # per-wave progress and per-gate status, as the gates reported them
    assert [w["devices"] for w in one["waves"]] == [2, 18]
    assert one["waves"][0]["downloading"] == 1 and one["waves"][0]["failed"] == 1
    by_gate = {d["device"]: d for d in one["device_status"]}
    assert len(by_gate) == 20
    assert (by_gate[offered[0]]["status"], by_gate[offered[0]]["percent"]) == ("downloading", 40)
    assert by_gate[offered[1]]["status"] == "failed"
    # one status, and pages of the gates (limit / offset)
    only = api.as_("viewer").get(f"/api/v1/campaigns/{cid}?status=downloading").json()["device_status"]
    assert [d["device"] for d in only] == [offered[0]]
    pages = [api.as_("viewer").get(f"/api/v1/campaigns/{cid}?limit=7&offset={o}").json()["device_status"]
             for o in (0, 7, 14, 21)]
    assert [len(p) for p in pages] == [7, 7, 6, 0]
    assert [d["device"] for p in pages for d in p] == [d["device"] for d in one["device_status"]]


def test_a_manager_or_anonymous_reads_nothing(api, campaign):
    cid, _ = campaign
    for url in ("/api/v1/releases", "/api/v1/campaigns", f"/api/v1/campaigns/{cid}"):
        r = api.as_("manager").get(url)  # business-scoped: no fleet-wide firmware view
        assert r.status_code == 403 and r.json()["title"] == "ROLE", url
        assert api.as_(None).get(url).status_code == 401


@pytest.mark.parametrize("verb", ["pause", "resume", "cancel"])
def test_only_an_admin_steers(api, session_factory, campaign, verb):
    cid, _ = campaign
    for role in ("operator", "manager", "viewer"):
        r = api.as_(role).post(f"/api/v1/campaigns/{cid}/{verb}")
        assert r.status_code == 403 and r.json()["title"] == "ROLE", role
    assert api.as_(None).post(f"/api/v1/campaigns/{cid}/{verb}").status_code == 401
    # an admin's browser session without the CSRF header is refused too
    login = api.client.post("/api/v1/login", json={"username": "admin",
                                                   "password": "admin-password-1"})
    assert login.status_code == 200
    r = api.client.post(f"/api/v1/campaigns/{cid}/{verb}")
    api.client.cookies.clear()
    assert r.status_code == 403 and r.json()["title"] == "CSRF"
    with session_factory() as db:
        assert ota.get(db, cid).state == "running"
    assert audit(session_factory, f"ota.campaign.{verb}") == []


def test_admin_pause_resume_cancel_audited(api, session_factory, campaign):
    cid, _ = campaign
    admin = api.as_("admin")
    r = admin.post(f"/api/v1/campaigns/{cid}/pause")
    assert r.status_code == 200 and r.json()["state"] == "paused" and r.json()["id"] == cid
    with session_factory() as db:
        assert r.json() == as_cli_json(ota.summary(db, ota.get(db, cid)))  # as `campaign pause --json`
        assert ota.get(db, cid).state == "paused"
    again = admin.post(f"/api/v1/campaigns/{cid}/pause")
    assert again.status_code == 409 and again.json()["title"] == "CAMPAIGN_STATE"
    assert admin.post(f"/api/v1/campaigns/{cid}/resume").json()["state"] == "running"
    assert admin.post(f"/api/v1/campaigns/{cid}/cancel").json()["state"] == "cancelled"
    for verb in ("pause", "resume", "cancel"):
        r = admin.post(f"/api/v1/campaigns/{cid}/{verb}")
        assert r.status_code == 409 and r.json()["title"] == "CAMPAIGN_STATE", verb
    for verb in ("pause", "resume", "cancel"):
        assert audit(session_factory, f"ota.campaign.{verb}") == [("admin", str(cid))], verb


def test_bad_input_is_a_clear_4xx(api, campaign):
    cid, _ = campaign
    admin = api.as_("admin")
    for bad in ("0", "-1", "9999", "99999999999999999999"):
        for r in (admin.get(f"/api/v1/campaigns/{bad}"), admin.post(f"/api/v1/campaigns/{bad}/pause")):
            assert r.status_code == 404 and r.json()["title"] == "CAMPAIGN_NOT_FOUND", bad
    for r in (admin.get("/api/v1/campaigns/abc"), admin.post("/api/v1/campaigns/1e3/cancel"),
              admin.get(f"/api/v1/campaigns/{cid}?limit=0"),
              admin.get(f"/api/v1/campaigns/{cid}?limit=10001"),
              admin.get(f"/api/v1/campaigns/{cid}?offset=-1"),
              admin.get("/api/v1/campaigns?limit=x")):
        assert r.status_code == 422 and r.json()["title"] == "VALIDATION", r.url
    r = admin.get(f"/api/v1/campaigns/{cid}?status=<script>")
    assert r.status_code == 400 and r.json()["title"] == "BAD_STATUS"
    assert "<script>" not in r.json()["detail"]
    r = admin.post(f"/api/v1/campaigns/{cid}/start")  # not an API action
    assert r.status_code in (404, 405) and r.json()["title"] in ("NOT_FOUND", "METHOD_NOT_ALLOWED")
