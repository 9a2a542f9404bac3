"""Businesses, sites, devices (registration, technician tokens, commands), issuers."""

import pytest
from fleet.broker_bridge import topics
from fleet.broker_bridge.mosquitto_conf import check_password_hash
from fleet_helpers import BUSINESS, pubhex


def site_of(api, bid):
    return [s for s in api.as_("admin").get("/api/v1/sites").json() if s["business_id"] == bid][0]


def test_business_crud_scoping_and_validation(api):
    op, mgr, viewer = api.as_("operator"), api.as_("manager"), api.as_("viewer")
    assert [b["id"] for b in mgr.get("/api/v1/businesses").json()] == ["B1"]
    assert {b["id"] for b in viewer.get("/api/v1/businesses").json()} == {"B1", "B2"}
    assert mgr.get("/api/v1/businesses/B2").status_code == 403
    assert mgr.get("/api/v1/businesses/B1").json()["status"] == "approved"
    assert op.get("/api/v1/businesses/NOPE").status_code == 404
    body = {**BUSINESS, "id": "B3"}
    assert mgr.post("/api/v1/businesses", json=body).status_code == 403
    assert viewer.post("/api/v1/businesses", json=body).status_code == 403
    assert op.post("/api/v1/businesses", json={**body, "sector": "casino"}).status_code == 422
    assert op.post("/api/v1/businesses", json={**body, "operating_mode": "x"}).status_code == 422
    assert op.post("/api/v1/businesses", json={**body, "id": "bad id!"}).status_code == 422
    assert op.post("/api/v1/businesses", json={**body, "extra": 1}).status_code == 422
    r = op.post("/api/v1/businesses", json={**body, "five_k": False})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert op.post("/api/v1/businesses", json=body).json()["title"] == "BUSINESS_EXISTS"
    r = op.post("/api/v1/businesses/B3/approve")
    assert r.status_code == 409 and r.json()["missing"] == ["five_k"]
    assert op.patch("/api/v1/businesses/B3", json={"five_k": True}).status_code == 200
    assert mgr.patch("/api/v1/businesses/B1", json={"five_k": False}).status_code == 403
    assert op.patch("/api/v1/businesses/B3", json={"zone": "purple"}).status_code == 422
    assert op.post("/api/v1/businesses/B3/approve").json()["status"] == "approved"
    assert [b["id"] for b in op.get("/api/v1/businesses?status=approved").json()] == ["B1", "B2", "B3"]


def test_suspend_reinstate_pushes_site_config(api, session_factory):
    from fleet.models import ControlOutbox
    from sqlalchemy import select

    op = api.as_("operator")
    assert api.as_("manager").post("/api/v1/businesses/B1/suspend", json={"reason": "x"}).status_code == 403
    assert op.post("/api/v1/businesses/B1/suspend", json={}).status_code == 422
    r = op.post("/api/v1/businesses/B1/suspend", json={"reason": "kiểm tra"})
    assert r.json()["status"] == "suspended" and r.json()["suspended_reason"] == "kiểm tra"
    assert op.post("/api/v1/businesses/B1/approve").status_code == 409
    site = site_of(api, "B1")
    with session_factory() as db:
        last = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "config")
                          .order_by(ControlOutbox.id.desc())).first()
    assert last.topic == topics.site_config(site["id"]) and last.retain
    assert last.body["suspended"] is True and last.body["version"] == site["config_version"]
    assert op.post("/api/v1/businesses/B1/reinstate").json()["status"] == "approved"
    assert op.post("/api/v1/businesses/B1/reinstate").json()["title"] == "NOT_SUSPENDED"
    assert site_of(api, "B1")["config_version"] == site["config_version"] + 1


def test_sites(api):
    op, mgr = api.as_("operator"), api.as_("manager")
    assert [s["business_id"] for s in mgr.get("/api/v1/sites").json()] == ["B1"]
    assert mgr.post("/api/v1/sites", json={"business_id": "B1", "name": "x"}).status_code == 403
    assert op.post("/api/v1/sites", json={"business_id": "NOPE", "name": "x"}).status_code == 404
    assert op.post("/api/v1/sites", json={"business_id": "B1", "name": "x", "capacity": 0}).status_code == 422
    r = op.post("/api/v1/sites", json={"business_id": "B1", "name": "Kho", "capacity": 50,
                                         "rules": {"roles": [1, 2]}})
    assert r.status_code == 201 and r.json()["config_version"] == 1
    sid = r.json()["id"]
    assert op.patch(f"/api/v1/sites/{sid}", json={"capacity": 60}).json()["config_version"] == 2
    assert op.post(f"/api/v1/sites/{sid}/publish").json()["config_version"] == 3
    b2 = site_of(api, "B2")["id"]
    assert mgr.get(f"/api/v1/sites/{b2}").status_code == 403
    assert mgr.get(f"/api/v1/sites/{sid}").json()["capacity"] == 60
    assert op.get("/api/v1/sites/99999").status_code == 404


def test_device_registration_with_technician_token(api):
    op = api.as_("operator")
    site = site_of(api, "B1")
    assert api.as_("manager").post("/api/v1/technician-tokens", json={}).status_code == 403
    tok = op.post("/api/v1/technician-tokens", json={"site_id": site["id"]}).json()["token"]
    key = pubhex()
    body = {"device_id": "gate-001", "public_key": key, "firmware": "0.1.0"}
    c = api.client
    assert c.post("/api/v1/devices/register", json=body).status_code == 401
    r = c.post("/api/v1/devices/register", json=body, headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["site_id"] == site["id"] and out["mqtt_username"] == "gate-001"
    assert len(out["mqtt_password"]) >= 24
    # the technician token is not a login session
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    # another site with a site-bound token is refused
    other = site_of(api, "B2")["id"]
    r = c.post("/api/v1/devices/register", json={**body, "device_id": "gate-002", "site_id": other},
               headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 403 and r.json()["title"] == "SITE_SCOPE"
    # same id, other key: conflict; bad key: 422 / 400
    r = op.post("/api/v1/devices/register", json={**body, "public_key": pubhex()})
    assert r.status_code == 409
    assert op.post("/api/v1/devices/register", json={**body, "public_key": "zz" * 32}).status_code == 422
    r = op.post("/api/v1/devices/register", json={**body, "device_id": "g!3"})
    assert r.status_code == 422
    assert api.as_("viewer").post("/api/v1/devices/register", json=body).status_code == 403
    # only the mosquitto hash is stored, and it checks the password
    dev = api.as_("admin").get("/api/v1/devices/gate-001").json()
    assert dev["public_key"] == key and dev["site_id"] == site["id"]


def test_device_password_stored_as_mosquitto_hash(api, session_factory):
    from fleet.models import Device

    out = api.as_("operator").post("/api/v1/devices/register", json={
        "device_id": "gate-009", "public_key": pubhex()}).json()
    with session_factory() as db:
        stored = db.get(Device, "gate-009").mqtt_password_hash
    assert stored.startswith("$7$101$") and out["mqtt_password"] not in stored
    assert check_password_hash(stored, out["mqtt_password"])
    assert not check_password_hash(stored, out["mqtt_password"] + "x")


def test_device_listing_scope_patch_and_commands(api):
    op, mgr = api.as_("operator"), api.as_("manager")
    s1, s2 = site_of(api, "B1")["id"], site_of(api, "B2")["id"]
    for did, sid in (("gate-a", s1), ("gate-b", s2)):
        op.post("/api/v1/devices/register", json={"device_id": did, "public_key": pubhex(), "site_id": sid})
    assert [d["id"] for d in mgr.get("/api/v1/devices").json()] == ["gate-a"]
    assert mgr.get("/api/v1/devices/gate-b").status_code == 403
    assert [d["id"] for d in op.get(f"/api/v1/devices?site_id={s2}").json()] == ["gate-b"]
    assert op.get("/api/v1/devices?online=true").json() == []
    assert op.get("/api/v1/devices/nope").status_code == 404
    assert mgr.patch("/api/v1/devices/gate-a", json={"site_id": s2}).status_code == 403
    assert op.patch("/api/v1/devices/gate-a", json={"site_id": 99999}).status_code == 404
    assert op.patch("/api/v1/devices/gate-a", json={"site_id": s2}).json()["site_id"] == s2
    r = op.post("/api/v1/devices/gate-b/commands", json={"command": "reboot"})
    assert r.status_code == 202 and r.json()["topic"] == topics.command("gate-b")
    assert op.post("/api/v1/devices/gate-b/commands", json={"command": "selfdestruct"}).status_code == 422
    assert op.post("/api/v1/devices/gate-b/commands", json={"command": "reboot", "args": {"x": 1}}).status_code == 400
    assert op.post("/api/v1/devices/gate-b/commands",
                   json={"command": "show_message", "args": {"vi": "Xin chào"}}).status_code == 400
    assert op.post("/api/v1/devices/gate-b/commands",
                   json={"command": "show_message", "args": {"vi": "Xin chào", "en": "Hello"}}).status_code == 202
    assert mgr.post("/api/v1/devices/gate-a/commands", json={"command": "sync"}).status_code == 403
    assert op.post("/api/v1/devices/nope/commands", json={"command": "sync"}).status_code == 404
    assert op.get("/api/v1/devices/gate-b/screenshot").status_code == 404


def test_issuers_admin_only(api):
    key = pubhex()
    body = {"iss": "HCM-Q7", "public_key": key}
    assert api.as_("operator").post("/api/v1/issuers", json=body).status_code == 403
    r = api.as_("admin").post("/api/v1/issuers", json=body)
    assert r.status_code == 201
    import hashlib
    assert r.json()["kid"] == hashlib.sha256(bytes.fromhex(key)).digest()[:8].hex()
    assert api.as_("admin").post("/api/v1/issuers", json=body).status_code == 409
    assert api.as_("admin").post("/api/v1/issuers", json={**body, "iss": ""}).status_code == 422
    assert [i["kid"] for i in api.as_("viewer").get("/api/v1/issuers").json()] == [r.json()["kid"]]
