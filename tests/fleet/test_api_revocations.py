"""Revoking and lifting revocations through the API: list versions, the
signed manifest's snapshot + delta (added / removed), roles, re-revoking."""

from sqlalchemy import select

from fleet.models import AuditLog, Blob, ControlOutbox
from fleet.services import control
from greengate.control import revocation as ggrev

H1, H2 = "a1" * 16, "b2" * 16


def manifest(session_factory):
    """(list_version, snapshot bytes, (base, added, removed) or None) of the newest manifest."""
    with session_factory() as db:
        row = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "revocation")
                         .order_by(ControlOutbox.id.desc())).first()
        snap = db.get(Blob, row.body["snapshot"]).data
        delta = db.get(Blob, row.body["delta"]).data if row.body["delta"] else None
    return row.body["list_version"], snap, ggrev.parse_delta(delta) if delta else None


def effective(snap, delta, h):
    """What a gate decides for hash h (docs/protocol.md 7.2: removed -> no, added -> yes)."""
    h = bytes.fromhex(h)
    if delta is not None:
        _, added, removed = delta
        if h in removed:
            return False
        if h in added:
            return True
    return ggrev.contains(snap, h)


def test_lift_and_revoke_again(api, session_factory):
    op = api.as_("operator")
    assert op.post("/api/v1/revocations", json={"pass_hash": H1, "reason": "LOST"}).status_code == 201
    with session_factory() as db:  # cut a snapshot holding H1, so the lift must be a removal
        control.cut_snapshot(db)
        db.commit()
    assert op.post("/api/v1/revocations", json={"pass_hash": H2, "reason": "FRAUD"}).status_code == 201
    v_before, snap, delta = manifest(session_factory)
    assert effective(snap, delta, H1) and effective(snap, delta, H2)

    r = op.post(f"/api/v1/revocations/{H1}/lift", json={"reason": "FOUND"})
    assert r.status_code == 200, r.text
    lifted = r.json()
    assert lifted["active"] is False and lifted["lift_reason"] == "FOUND"
    assert lifted["lifted_by"] == "operator" and lifted["version"] == v_before + 1
    v, snap, delta = manifest(session_factory)
    assert v == v_before + 1
    assert ggrev.contains(snap, bytes.fromhex(H1))  # still in the snapshot...
    assert bytes.fromhex(H1) in delta[2] and not effective(snap, delta, H1)  # ...removed by the delta
    assert effective(snap, delta, H2)

    # the list API shows the change to clients that follow versions
    changed = op.get(f"/api/v1/revocations?since_version={v_before}").json()
    assert [(x["pass_hash"], x["active"]) for x in changed] == [(H1, False)]

    # lifting twice, or a pass never revoked: 409; bad reason: 422
    assert op.post(f"/api/v1/revocations/{H1}/lift", json={"reason": "FOUND"}).json()["title"] == "NOT_REVOKED"
    assert op.post(f"/api/v1/revocations/{'c3' * 16}/lift", json={"reason": "ERROR"}).status_code == 409
    assert op.post(f"/api/v1/revocations/{H2}/lift", json={"reason": "because"}).status_code == 422
    assert op.post("/api/v1/revocations/zz/lift", json={"reason": "ERROR"}).json()["title"] == "BAD_PASS_HASH"

    # revoking it again reuses the row with a new version; the delta adds it back
    r = op.post("/api/v1/revocations", json={"pass_hash": H1, "reason": "FRAUD"})
    assert r.status_code == 201 and r.json()["active"] is True and r.json()["lift_reason"] is None
    v2, snap, delta = manifest(session_factory)
    assert v2 == v + 1 and effective(snap, delta, H1)
    assert op.post("/api/v1/revocations", json={"pass_hash": H1, "reason": "LOST"}).json()["title"] == \
        "ALREADY_REVOKED"

    # a new snapshot holds only what is revoked now
    assert op.post(f"/api/v1/revocations/{H2}/lift", json={"reason": "ERROR"}).status_code == 200
    with session_factory() as db:
        data = db.get(Blob, control.cut_snapshot(db).blob_sha256).data
        db.commit()
    assert ggrev.contains(data, bytes.fromhex(H1)) and not ggrev.contains(data, bytes.fromhex(H2))
    with session_factory() as db:
        actions = db.scalars(select(AuditLog.action).where(AuditLog.target_id.in_([H1, H2]))).all()
    assert actions.count("pass.unrevoke") == 2 and actions.count("pass.revoke") == 3


def test_lift_needs_a_district_role(api):
    assert api.as_("operator").post("/api/v1/revocations",
                                    json={"pass_hash": H1, "reason": "LOST"}).status_code == 201
    for role in ("manager", "viewer"):
        assert api.as_(role).post(f"/api/v1/revocations/{H1}/lift",
                                  json={"reason": "ERROR"}).status_code == 403
    assert api.as_("admin").post(f"/api/v1/revocations/{H1}/lift",
                                 json={"reason": "ERROR"}).status_code == 200


def test_lift_note_is_kept_and_audited(api, session_factory):
    op = api.as_("operator")
    assert op.post("/api/v1/revocations", json={"pass_hash": H1, "reason": "LOST"}).status_code == 201
    assert op.post(f"/api/v1/revocations/{H1}/lift",
                   json={"reason": "FOUND", "note": "x" * 301}).status_code == 422
    r = op.post(f"/api/v1/revocations/{H1}/lift", json={"reason": "FOUND", "note": " card returned "})
    assert r.status_code == 200 and r.json()["lift_note"] == "card returned"
    with session_factory() as db:
        rec = db.scalar(select(AuditLog).where(AuditLog.action == "pass.unrevoke"))
        assert rec.detail["note"] == "card returned" and rec.detail["reason"] == "FOUND"
    # revoked again: the old lift's note goes with the old lift
    r = op.post("/api/v1/revocations", json={"pass_hash": H1, "reason": "FRAUD"})
    assert r.status_code == 201 and r.json()["lift_note"] is None
