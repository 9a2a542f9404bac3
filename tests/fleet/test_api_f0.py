"""Scans query, alerts, and the F0 workflow end to end through the API."""

import datetime as dt
import time

from sqlalchemy import select

from fleet.broker_bridge import topics
from fleet.models import AuditLog, Blob, ControlOutbox, utcnow
from greengate.control import revocation as ggrev
from fleet.services import scans
from fleet_helpers import dev_id, register

H = {n: f"{n:02x}" * 16 for n in range(1, 10)}  # pass hashes


G1, G2 = dev_id(0xB1), dev_id(0xB2)


def setup_gates(api):
    op = api.as_("operator")
    sites = {s["business_id"]: s["id"] for s in op.get("/api/v1/sites").json()}
    register(api, "operator", G1, sites["B1"])
    register(api, "operator", G2, sites["B2"])
    return sites


def ev(seq, t, h, verdict=True, reason=0, time_valid=True):
    return {"seq": seq, "time": t, "time_valid": time_valid, "pass_hash": h, "verdict": verdict,
            "reason": reason}


def ingest(session_factory, device, events):
    with session_factory() as db:
        res = scans.ingest_for_device(db, device, events)
        db.commit()
    return res


def test_scans_query_scoped(api, session_factory):
    setup_gates(api)
    now = int(time.time())
    assert ingest(session_factory, G1, [ev(1, now, H[1]), ev(2, now, None, False, 2)]).inserted == 2
    assert ingest(session_factory, G2, [ev(1, now, H[2])]).inserted == 1
    op, mgr = api.as_("operator"), api.as_("manager")
    rows = op.get("/api/v1/scans").json()
    assert len(rows) == 3
    bad = [r for r in rows if not r["verdict"]][0]
    assert bad["reason_name"] == "BASE45" and bad["pass_hash"] is None
    assert {r["device_id"] for r in mgr.get("/api/v1/scans").json()} == {G1}
    assert mgr.get("/api/v1/scans?business_id=B2").status_code == 403
    assert [r["seq"] for r in op.get(f"/api/v1/scans?pass_hash={H[2]}").json()] == [1]
    assert op.get("/api/v1/scans?pass_hash=xyz").status_code == 422
    assert op.get("/api/v1/scans?limit=0").status_code == 422
    assert len(op.get("/api/v1/scans?limit=1").json()) == 1
    first = rows[0]["id"]
    assert [r["id"] for r in op.get(f"/api/v1/scans?before_id={first}").json()] == [x["id"] for x in rows[1:]]
    assert api.client.get("/api/v1/scans").status_code == 401


def test_revoked_presented_alert_and_fleet_checks(api, session_factory, settings):
    from fleet.models import Device

    setup_gates(api)
    now = int(time.time())
    ingest(session_factory, G1, [ev(1, now, H[3], False, 12)])
    ingest(session_factory, G1, [ev(1, now, H[3], False, 12)])  # re-delivery: no 2nd alert
    op, mgr = api.as_("operator"), api.as_("manager")
    alerts = op.get("/api/v1/alerts").json()
    assert [(a["kind"], a["business_id"], a["detail"]["pass_hash"]) for a in alerts] == \
        [("REVOKED_PRESENTED", "B1", H[3])]
    with session_factory() as db:
        d = db.get(Device, G2)
        d.clock_drift_s, d.outbox_depth, d.tamper = 999.0, 10_000, True
        d.last_control_error = [0, 29, 0]  # decider rebuild failed: the gate refuses passes
        db.get(Device, G1).last_control_error = [1, 43, 7]  # a refused message: not an outage
        d.config_version = 0
        # the bridge published G2's configuration 10 minutes ago; G2 still reports version 0
        for row in db.scalars(select(ControlOutbox).where(ControlOutbox.topic == topics.config(G2))):
            row.published_at = utcnow() - dt.timedelta(minutes=10)
        db.commit()
    assert mgr.post("/api/v1/alerts/evaluate").status_code == 403
    kinds = sorted(a["kind"] for a in op.post("/api/v1/alerts/evaluate").json())
    assert kinds == ["CLOCK_DRIFT", "CONFIG_DRIFT", "GATE_ERROR", "OUTBOX_BACKLOG", "TAMPER"]
    gate_error = op.get("/api/v1/alerts?kind=GATE_ERROR").json()
    # the check joins the group a gate's own INTERNAL report opens (alerts.control_refused)
    assert [(a["device_id"], a["detail"], a["severity"]) for a in gate_error] == [
        (G2, {"message_kind": "decider", "version": 0, "reason": "INTERNAL"}, "critical")]
    assert op.post("/api/v1/alerts/evaluate").json() == []  # open alerts are not raised twice
    assert {a["business_id"] for a in mgr.get("/api/v1/alerts").json()} == {"B1"}
    b2_alert = [a for a in op.get("/api/v1/alerts?kind=TAMPER").json()][0]
    assert mgr.post(f"/api/v1/alerts/{b2_alert['id']}/ack").status_code == 403
    assert api.as_("viewer").post(f"/api/v1/alerts/{b2_alert['id']}/ack").status_code == 403
    r = op.post(f"/api/v1/alerts/{b2_alert['id']}/ack")
    assert r.json()["acknowledged_by"] == "operator"
    assert op.post(f"/api/v1/alerts/{b2_alert['id']}/ack").status_code == 409
    assert op.get("/api/v1/alerts?kind=NOPE").status_code == 400
    assert op.post("/api/v1/alerts/99999/ack").status_code == 404
    assert b2_alert["id"] not in [a["id"] for a in op.get("/api/v1/alerts").json()]
    assert b2_alert["id"] in [a["id"] for a in op.get("/api/v1/alerts?open_only=false").json()]


def test_f0_workflow(api, session_factory):
    sites = setup_gates(api)
    now = int(time.time())
    hour = 3600
    # F0 pass H1 accepted at B1 two days ago; H2 there 1 h later (exposed), H3 there 5 h later
    # (outside +/- 2 h), H4 denied at B2 (F0 pass denied there: not an exposure)
    ingest(session_factory, G1, [
        ev(1, now - 2 * 86400, H[1]), ev(2, now - 2 * 86400 + hour, H[2]),
        ev(3, now - 2 * 86400 + 5 * hour, H[3]),
        # an untrusted device clock: the fleet's receive time counts instead
        ev(4, 5, H[5], time_valid=False),
        ev(5, now - 40 * 86400, H[1]), ev(6, now - 40 * 86400, H[6]),  # outside N days
    ])
    ingest(session_factory, G2, [ev(1, now - 86400, H[1], False, 12), ev(2, now - 86400, H[4])])
    op, mgr = api.as_("operator"), api.as_("manager")
    assert mgr.post("/api/v1/f0", json={"pass_hash": H[1]}).status_code == 403
    assert op.post("/api/v1/f0", json={"pass_hash": "zz"}).status_code == 422
    assert op.post("/api/v1/f0", json={"pass_hash": H[1], "days": 0}).status_code == 422
    r = op.post("/api/v1/f0", json={"pass_hash": H[1], "days": 14, "hours": 2})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["exposure"] == [{"site_id": sites["B1"], "business_id": "B1",
                                 "visits": [now - 2 * 86400], "passes": [H[2]]}]
    # step 1: revoked with reason F0, delta queued
    revs = op.get("/api/v1/revocations").json()
    assert [(x["pass_hash"], x["reason"]) for x in revs] == [(H[1], "F0")]
    # step 3: suspend the affected businesses: B1 only
    r = op.post(f"/api/v1/f0/{case['id']}/suspend")
    assert r.json()["suspended_businesses"] == ["B1"]
    assert op.get("/api/v1/businesses/B1").json()["status"] == "suspended"
    assert op.get("/api/v1/businesses/B2").json()["status"] == "approved"
    with session_factory() as db:
        cfg = db.scalars(select(ControlOutbox).where(ControlOutbox.topic == topics.config(G1))
                         .order_by(ControlOutbox.id.desc())).first()
        manifest = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "revocation")
                              .order_by(ControlOutbox.id.desc())).first()
        snap = db.get(Blob, manifest.body["snapshot"]).data
    assert cfg.body["suspended"] is True and cfg.body["site"] == sites["B1"]
    assert ggrev.contains(snap, bytes.fromhex(H[1]))  # the F0 pass is on every gate's list
    # step 4: reinstate
    assert op.post("/api/v1/businesses/B1/reinstate").json()["status"] == "approved"
    assert op.post(f"/api/v1/f0/{case['id']}/close").json()["status"] == "closed"
    assert op.post(f"/api/v1/f0/{case['id']}/suspend").json()["title"] == "CASE_CLOSED"
    assert [c["id"] for c in op.get("/api/v1/f0").json()] == [case["id"]]
    assert op.get("/api/v1/f0/999").status_code == 404
    # a second F0 mark of the same pass does not revoke twice
    assert op.post("/api/v1/f0", json={"pass_hash": H[1]}).status_code == 201
    # every step audited
    with session_factory() as db:
        actions = db.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    for a in ("f0.mark", "pass.revoke", "f0.exposure", "f0.suspend", "business.suspended",
              "business.approved", "f0.close"):
        assert a in actions, a


def test_f0_exposure_uses_receive_time_for_untrusted_clocks(api, session_factory):
    setup_gates(api)
    now = int(time.time())
    ingest(session_factory, G2, [ev(1, now - 600, H[7]), ev(2, 12345, H[8], time_valid=False)])
    case = api.as_("operator").post("/api/v1/f0", json={"pass_hash": H[7]}).json()
    assert case["exposure"][0]["passes"] == [H[8]]




def test_forged_control_message_reported_by_a_gate_marks_it_tampered(api, session_factory):
    from fleet.models import Device
    from fleet.services import devices

    setup_gates(api)
    with session_factory() as db:
        # a rollback is drift, not tamper
        devices.apply_state(db, G1, {"online": True, "last_control_error": [1, 42, 7]})
        assert not db.get(Device, G1).tamper
        # a message no fleet key signed (CTRL_SIGNATURE) is someone injecting
        devices.apply_state(db, G1, {"online": True, "last_control_error": [1, 41, 0]})
        assert db.get(Device, G1).tamper
        db.commit()
    kinds = [a["kind"] for a in api.as_("operator").post("/api/v1/alerts/evaluate").json()]
    assert "TAMPER" in kinds
