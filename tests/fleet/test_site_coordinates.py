"""Site coordinates for the map: set at creation or by PATCH, range-checked,
paired, never part of the gates' configuration; hostile values refused."""

from __future__ import annotations

import json

from sqlalchemy import select

from fleet.models import AuditLog


def test_create_and_move_a_site(api):
    op = api.as_("operator")
    r = op.post("/api/v1/sites", json={"business_id": "B1", "name": "Kho Tân Thuận",
                                       "lat": 10.7539, "lon": 106.7434})
    assert r.status_code == 201, r.text
    site = r.json()
    assert (site["lat"], site["lon"]) == (10.7539, 106.7434)
    version = site["config_version"]
    moved = op.patch(f"/api/v1/sites/{site['id']}", json={"lat": 10.729, "lon": 106.7188}).json()
    assert (moved["lat"], moved["lon"]) == (10.729, 106.7188)
    assert moved["config_version"] == version  # no configuration pushed to the gates for a move
    cleared = op.patch(f"/api/v1/sites/{site['id']}", json={"lat": None, "lon": None}).json()
    assert cleared["lat"] is None and cleared["lon"] is None
    renamed = op.patch(f"/api/v1/sites/{site['id']}", json={"name": "Kho mới"}).json()
    assert renamed["config_version"] == version + 1  # a real change still is
    assert api.as_("manager").patch(f"/api/v1/sites/{site['id']}",
                                    json={"lat": 1.0, "lon": 2.0}).status_code == 403


def test_bad_coordinates_are_refused(api, session_factory):
    op = api.as_("operator")
    sid = op.get("/api/v1/sites").json()[0]["id"]
    bad = [{"lat": 90.5, "lon": 106.7}, {"lat": 10.7, "lon": 180.01}, {"lat": -91, "lon": 0},
           {"lat": 10.7}, {"lon": 106.7}, {"lat": 10.7, "lon": None}, {"lat": "north", "lon": 1},
           {"lat": [10.7], "lon": 106.7}]
    for body in bad:
        r = op.patch(f"/api/v1/sites/{sid}", json=body)
        assert r.status_code == 422, (body, r.text)
        r = op.post("/api/v1/sites", json={"business_id": "B1", "name": "x", **body})
        assert r.status_code == 422, (body, r.text)
    for raw in ('{"lat": NaN, "lon": 1}', '{"lat": Infinity, "lon": 1}', '{"lat": 1e400, "lon": 1}'):
        r = op.patch(f"/api/v1/sites/{sid}", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, raw
    assert op.get(f"/api/v1/sites/{sid}").json()["lat"] is None
    with session_factory() as db:  # nothing was changed, so nothing was audited
        assert not [a for a in db.scalars(select(AuditLog).where(AuditLog.action == "site.update"))]
    # the edges of the ranges are fine
    r = op.patch(f"/api/v1/sites/{sid}", content=json.dumps({"lat": -90, "lon": 180}),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and (r.json()["lat"], r.json()["lon"]) == (-90, 180)
