"""Passes (issue, card PDF), allowlists (draft -> approve), revocations."""

import io

from sqlalchemy import select

from fleet.models import ControlOutbox
from greengate.passes import verify as gv
from greengate.passes import keys as gk

WORKER = {"role": 1, "initials": "NVĐ", "birth_year": 1990, "business_id": "B1", "valid_days": 30,
          "doses": 2, "last_dose": "2021-08-01", "zone": 0}


def test_issue_pass_verifies_with_reference_verifier(api, settings, session_factory):
    r = api.as_("operator").post("/api/v1/passes", json=WORKER)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["qr_text"].startswith("GG1:") and p["initials"] == "NVĐ"
    # the trust list now holds the fleet issuer key; the reference verifier accepts the pass
    key = gk.load_private_key(settings.pass_issuer_key_path)
    entry = gk.TrustEntry(settings.issuer_name, gk.kid_for(gk.raw_public(key)), gk.raw_public(key))
    issuers = api.as_("viewer").get("/api/v1/issuers").json()
    assert [i["kid"] for i in issuers] == [entry.kid.hex()]
    with session_factory() as db:
        trust = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "trust")).all()
    assert trust[-1].body["keys"][0]["public_key"] == entry.public_key.hex()
    verifier = gv.Verifier([entry]) if hasattr(gv, "Verifier") else None
    if verifier is not None:
        res = verifier.check(p["qr_text"], p_now(p))
        assert res.verdict and res.pass_hash.hex() == p["pass_hash"]
    # stored metadata only: the QR text is not kept
    got = api.as_("viewer").get(f"/api/v1/passes/{p['pass_hash']}").json()
    assert "qr_text" not in got and got["cti"] == p["cti"]


def p_now(p):
    import datetime as dt
    return int(dt.datetime.fromisoformat(p["issued_at"]).timestamp()) + 60


def test_issue_pass_bad_bodies_and_roles(api):
    op, mgr = api.as_("operator"), api.as_("manager")
    assert op.post("/api/v1/passes", json={**WORKER, "role": 9}).status_code == 422
    assert op.post("/api/v1/passes", json={**WORKER, "initials": "NV1"}).json()["title"] == "BAD_CLAIMS"
    assert op.post("/api/v1/passes", json={**WORKER, "business_id": None}).json()["title"] == "BAD_CLAIMS"
    assert op.post("/api/v1/passes", json={**WORKER, "business_id": "NOPE"}).status_code == 404
    assert op.post("/api/v1/passes", json={**WORKER, "birth_year": 1800}).status_code == 422
    assert api.as_("viewer").post("/api/v1/passes", json=WORKER).status_code == 403
    assert mgr.post("/api/v1/passes", json={**WORKER, "business_id": "B2"}).status_code == 403
    assert mgr.post("/api/v1/passes", json={**WORKER, "role": 0, "business_id": None}).status_code == 403
    r = mgr.post("/api/v1/passes", json=WORKER)
    assert r.status_code == 201
    op.post("/api/v1/passes", json={**WORKER, "business_id": "B2"})
    assert {p["business_id"] for p in mgr.get("/api/v1/passes").json()} == {"B1"}
    assert len(op.get("/api/v1/passes").json()) == 2
    assert op.get("/api/v1/passes/" + "0" * 32).status_code == 404


def test_card_pdf_has_qr_that_decodes(api, tmp_path):
    import zxingcpp
    from PIL import Image

    p = api.as_("operator").post("/api/v1/passes", json=WORKER).json()
    r = api.as_("manager").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf", json={"qr_text": p["qr_text"]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = r.content
    assert pdf.startswith(b"%PDF")
    # credit-card page size in points: 85.6 x 53.98 mm
    assert b"/MediaBox [ 0 0 242.6457 153.0142 ]" in pdf
    # the embedded image is the QR: render it back from the PDF with pdfimages-free route:
    from reportlab.pdfbase import pdfmetrics  # noqa: F401 (fonts registered)
    import segno
    img = io.BytesIO()
    segno.make_qr(p["qr_text"], error="m", mode="alphanumeric").save(img, kind="png", scale=4)
    img.seek(0)
    decoded = zxingcpp.read_barcodes(Image.open(img))
    assert decoded and decoded[0].text == p["qr_text"]
    other = api.as_("operator").post("/api/v1/passes", json=WORKER).json()
    r = api.as_("operator").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf", json={"qr_text": other["qr_text"]})
    assert r.status_code == 400 and r.json()["title"] == "PASS_MISMATCH"
    r = api.as_("operator").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf", json={"qr_text": "GG1:!!!"})
    assert r.status_code == 400 and r.json()["title"] == "BAD_PASS"
    assert api.as_("viewer").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf",
                                  json={"qr_text": p["qr_text"]}).status_code == 403


def test_allowlist_draft_approve_flow(api, session_factory):
    op, mgr = api.as_("operator"), api.as_("manager")
    p = op.post("/api/v1/passes", json=WORKER).json()
    h = p["pass_hash"]
    assert mgr.post("/api/v1/businesses/B2/allowlist", json={"pass_hash": h}).status_code == 403
    assert mgr.post("/api/v1/businesses/B1/allowlist", json={"pass_hash": "xyz"}).status_code == 422
    r = mgr.post("/api/v1/businesses/B1/allowlist", json={"pass_hash": h})
    assert r.status_code == 201 and r.json()["status"] == "draft"
    eid = r.json()["id"]
    assert mgr.post("/api/v1/businesses/B1/allowlist", json={"pass_hash": h}).json()["title"] == "ALREADY_LISTED"
    r = op.post("/api/v1/businesses/B2/allowlist", json={"pass_hash": h})
    assert r.status_code == 409 and r.json()["title"] == "WRONG_BUSINESS"
    # the manager may not approve its own draft
    assert mgr.post(f"/api/v1/allowlist/{eid}/approve").status_code == 403
    r = op.post(f"/api/v1/allowlist/{eid}/approve")
    assert r.json()["status"] == "approved" and r.json()["approved_by"] == "operator"
    assert op.post(f"/api/v1/allowlist/{eid}/approve").json()["title"] == "NOT_DRAFT"
    assert op.post("/api/v1/allowlist/99999/approve").status_code == 404
    with session_factory() as db:
        cfg = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "config")
                         .order_by(ControlOutbox.id.desc())).first()
    assert cfg.body["business"] == "B1" and cfg.body["allowlist"] == [h]
    assert [e["pass_hash"] for e in mgr.get("/api/v1/businesses/B1/allowlist?status=approved").json()] == [h]
    assert mgr.get("/api/v1/businesses/B2/allowlist").status_code == 403
    assert mgr.post(f"/api/v1/allowlist/{eid}/remove").json()["status"] == "removed"
    r2 = op.post("/api/v1/businesses/B1/allowlist", json={"pass_hash": "ab" * 16}).json()
    assert op.post(f"/api/v1/allowlist/{r2['id']}/reject").json()["status"] == "rejected"


def test_revocations_versions_and_delta(api, session_factory):
    op = api.as_("operator")
    p = op.post("/api/v1/passes", json=WORKER).json()
    assert api.as_("manager").post("/api/v1/revocations", json={"pass_hash": p["pass_hash"], "reason": "LOST"}).status_code == 403
    assert op.post("/api/v1/revocations", json={"pass_hash": p["pass_hash"], "reason": "BORED"}).status_code == 422
    r = op.post("/api/v1/revocations", json={"pass_hash": p["pass_hash"].upper(), "reason": "LOST"})
    assert r.status_code == 201 and r.json()["version"] == 1 and r.json()["pass_hash"] == p["pass_hash"]
    assert op.post("/api/v1/revocations", json={"pass_hash": p["pass_hash"], "reason": "LOST"}).json()["title"] == "ALREADY_REVOKED"
    r = op.post("/api/v1/revocations", json={"pass_hash": "cd" * 16, "reason": "FRAUD"})
    assert r.json()["version"] == 2
    assert api.as_("viewer").get(f"/api/v1/passes/{p['pass_hash']}").json()["status"] == "revoked"
    assert [x["version"] for x in op.get("/api/v1/revocations?since_version=1").json()] == [2]
    with session_factory() as db:
        rows = db.scalars(select(ControlOutbox).where(ControlOutbox.kind.like("revocation%"))
                          .order_by(ControlOutbox.id)).all()
    kinds = [(r.kind, r.body.get("base"), r.body["version"]) for r in rows]
    # no snapshot yet: the first revocation cuts snapshot v1 (and an empty delta 1 -> 1);
    # later ones a cumulative delta from that snapshot
    assert kinds == [("revocation_snapshot", None, 1), ("revocation_delta", 1, 1), ("revocation_delta", 1, 2)]
    assert rows[0].body["hashes"] == [p["pass_hash"]]
    assert rows[-1].body["added"] == ["cd" * 16]
