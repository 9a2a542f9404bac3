"""Passes (issue, card PDF), allowlists (draft -> approve), revocations."""

import pytest
from sqlalchemy import select

from fleet.broker_bridge import topics
from fleet.models import Blob, ControlOutbox, RevocationSnapshot
from greengate.control import revocation as ggrev
from fleet_helpers import dev_id, register
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
    res = gv.Verifier([entry]).check(p["qr_text"], p_now(p))
    assert res.verdict and res.pass_hash.hex() == p["pass_hash"]
    assert res.claims["initials"] == "NVĐ" and res.claims["business"] == "B1"
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
    """The printed card, rendered back to pixels (PDFium), carries a QR that a
    real decoder (zxing-cpp) reads as the pass, and the initials/role text."""
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 (test extra) renders the card PDF")
    import zxingcpp

    p = api.as_("operator").post("/api/v1/passes", json=WORKER).json()
    r = api.as_("manager").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf", json={"qr_text": p["qr_text"]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    page = pdfium.PdfDocument(r.content)[0]
    w, h = page.get_size()  # points: ID-1 card, 85.6 x 53.98 mm
    assert abs(w - 85.6 / 25.4 * 72) < 0.5 and abs(h - 53.98 / 25.4 * 72) < 0.5
    decoded = zxingcpp.read_barcodes(page.render(scale=8).to_pil(),
                                      formats=zxingcpp.BarcodeFormat.QRCode)
    assert [d.text for d in decoded] == [p["qr_text"]]
    text = page.get_textpage().get_text_range()
    assert "NVĐ" in text and "Người lao động" in text and "Worker" in text and "B1" in text
    other = api.as_("operator").post("/api/v1/passes", json=WORKER).json()
    r = api.as_("operator").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf", json={"qr_text": other["qr_text"]})
    assert r.status_code == 400 and r.json()["title"] == "PASS_MISMATCH"
    r = api.as_("operator").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf", json={"qr_text": "GG1:!!!"})
    assert r.status_code == 400 and r.json()["title"] == "BAD_PASS"
    assert api.as_("viewer").post(f"/api/v1/passes/{p['pass_hash']}/card.pdf",
                                  json={"qr_text": p["qr_text"]}).status_code == 403


def test_allowlist_draft_approve_flow(api, session_factory):
    import cbor2

    op, mgr = api.as_("operator"), api.as_("manager")
    site = [s for s in op.get("/api/v1/sites").json() if s["business_id"] == "B1"][0]
    register(api, "operator", dev_id(0x11), site["id"])
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
        cfg = db.scalars(select(ControlOutbox).where(ControlOutbox.topic == topics.config(dev_id(0x11)))
                         .order_by(ControlOutbox.id.desc())).first()
        allow = db.get(Blob, cfg.body["allowlist"]).data
    # the gate's configuration carries the approved allowlist as a blob of pass hashes
    assert cfg.body["business"] == "B1" and cbor2.loads(allow) == [bytes.fromhex(h)]
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
        rows = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "revocation")
                          .order_by(ControlOutbox.id)).all()
        snaps = db.scalars(select(RevocationSnapshot)).all()
        blob = lambda sha: db.get(Blob, sha).data  # noqa: E731
        # no snapshot yet: the first revocation cuts one holding it; the second
        # travels in the cumulative delta on top of that snapshot
        assert [(s.list_version, s.entries) for s in snaps] == [(1, 1)]
        assert [(r.body["base"], r.body["list_version"]) for r in rows] == [(1, 1), (1, 2)]
        assert rows[0].body["delta"] is None and rows[1].body["snapshot"] == snaps[0].blob_sha256
        snap = blob(snaps[0].blob_sha256)
        assert ggrev.contains(snap, bytes.fromhex(p["pass_hash"]))
        assert not ggrev.contains(snap, bytes.fromhex("cd" * 16))
        base, added, removed = ggrev.parse_delta(blob(rows[1].body["delta"]))
        assert (base, added, removed) == (1, [bytes.fromhex("cd" * 16)], [])
