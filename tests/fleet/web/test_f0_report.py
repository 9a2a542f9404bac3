"""The F0 case report (issue 12): a PDF for contact tracers downloaded from
the case page, rendered with PDFium (pypdfium2) and its text extracted:
the exposure list grouped by business and site with entry times in local
time (Asia/Ho_Chi_Minh), contacts outside the window left out, the
suspended businesses, the timeline and the audit trail, Vietnamese with
its diacritics first. District roles only; each download is audited."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from fleet.models import AuditLog, F0Case
from fleet.services import scans
from web_helpers import DEVICES

F0, NEAR1, NEAR2, FAR, AT_B2 = "f0" * 16, "c1" * 16, "c2" * 16, "c3" * 16, "c4" * 16
HCM = dt.timezone(dt.timedelta(hours=7))


def scan(seq: int, h: str, at: int, verdict: bool = True) -> dict:
    return {"seq": seq, "time": at, "time_valid": True, "pass_hash": h, "verdict": verdict,
            "reason": 0 if verdict else 3}


def pdf_text(data: bytes) -> tuple[str, int]:
    """All pages' text, and the page count; every page must render to a
    bitmap that is not blank."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    texts = []
    try:
        for i in range(len(doc)):
            page = doc[i]
            image = page.render(scale=1).to_pil().convert("L")
            lo, hi = image.getextrema()
            assert hi - lo > 100, f"page {i + 1} renders blank"
            tp = page.get_textpage()
            texts.append(tp.get_text_range())
            tp.close()
            page.close()
        return "\n".join(texts), len(doc)
    finally:
        doc.close()


def test_f0_case_report_pdf(web, session_factory):
    _, _, b = web
    op = b["operator"]
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    visit = now - 3 * 86400 - (now % 60)  # three days ago, on the minute
    with session_factory() as db:
        scans.ingest_for_device(db, DEVICES["B1"], [
            scan(1, F0, visit), scan(2, NEAR1, visit + 600), scan(3, NEAR2, visit - 1800),
            scan(4, NEAR1, visit + 3000), scan(5, FAR, visit + 5 * 3600)])
        scans.ingest_for_device(db, DEVICES["B2"], [scan(1, F0, visit + 86400),
                                                    scan(2, AT_B2, visit + 86400 + 60)])
        db.commit()
    assert op.post("/ui/f0", {"pass_hash": F0, "days": "14", "hours": "2"}).status_code == 303
    with session_factory() as db:
        case = db.scalar(select(F0Case))
    assert op.post(f"/ui/f0/{case.id}/suspend").status_code == 303
    page = op.get(f"/ui/f0/{case.id}").text
    assert f'href="/ui/f0/{case.id}/report.pdf"' in page

    r = op.get(f"/ui/f0/{case.id}/report.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="greengate-f0-case-{case.id}.pdf"'
    assert r.content.startswith(b"%PDF-") and b"DejaVuSans" in r.content  # the font is embedded
    text, pages = pdf_text(r.content)
    flat = re.sub(r"\s+", " ", text)
    # Vietnamese first with its diacritics, English second
    for phrase in ("BÁO CÁO CA F0", "F0 CASE REPORT", "Danh sách tiếp xúc", "Exposure list",
                   "Diễn biến", "Timeline", "Doanh nghiệp bị tạm dừng", "Suspended businesses",
                   "Nhật ký thao tác", "Audit trail", "Bách hoá Xanh Tân Phong", "Nhà thuốc Long Châu",
                   "Cổng chính B1", "Thu hồi thẻ trên mọi cổng", "Asia/Ho_Chi_Minh"):
        assert phrase in flat, phrase
    # the exposure list: each business, then its site, the F0 entry time and the contacts
    local = lambda ts, f="%d/%m/%Y %H:%M": dt.datetime.fromtimestamp(ts, HCM).strftime(f)  # noqa: E731
    b1, b2 = flat.index("Bách hoá Xanh Tân Phong ("), flat.index("Nhà thuốc Long Châu (")
    assert b1 < b2  # grouped by business, in order
    section_b1, section_b2 = flat[b1:b2], flat[b2:flat.index("Doanh nghiệp bị tạm dừng")]
    assert local(visit) in section_b1 and local(visit + 86400) in section_b2
    assert NEAR1 in section_b1 and NEAR2 in section_b1 and AT_B2 in section_b2
    assert AT_B2 not in section_b1 and NEAR1 not in section_b2
    assert FAR not in flat  # scanned 5 h later: outside the ± 2 h window
    # each contact's own entry times, local time
    row = section_b1[section_b1.index(NEAR1):]
    assert row.index(local(visit + 600, "%d/%m %H:%M")) < row.index(local(visit + 3000, "%d/%m %H:%M")) < 80
    assert local(visit - 1800, "%d/%m %H:%M") in section_b1[section_b1.index(NEAR2):]
    suspended = flat[flat.index("Doanh nghiệp bị tạm dừng"):flat.index("Nhật ký thao tác")]
    assert "B1" in suspended and "B2" in suspended and "Tạm dừng / Suspended" in suspended
    assert "f0.suspend" in flat and "business.suspended" in flat and pages >= 1
    # who took the list out of the system is on record
    with session_factory() as db:
        rec = db.scalar(select(AuditLog).where(AuditLog.action == "f0.report"))
        assert (rec.actor, rec.target_id) == ("operator", str(case.id))
    # the next report shows that download in its timeline
    assert "Tải báo cáo" in re.sub(r"\s+", " ", pdf_text(op.get(f"/ui/f0/{case.id}/report.pdf").content)[0])


def test_f0_report_roles_and_unknown_case(web, session_factory):
    _, _, b = web
    with session_factory() as db:
        scans.ingest_for_device(db, DEVICES["B1"], [scan(1, F0, int(dt.datetime.now().timestamp()))])
        db.commit()
    assert b["operator"].post("/ui/f0", {"pass_hash": F0}).status_code == 303
    with session_factory() as db:
        cid = db.scalar(select(F0Case.id))
    assert b["admin"].get(f"/ui/f0/{cid}/report.pdf").status_code == 200
    for role in ("manager", "viewer"):
        r = b[role].get(f"/ui/f0/{cid}/report.pdf")
        assert r.status_code == 403 and not r.content.startswith(b"%PDF")
    assert b[None].get(f"/ui/f0/{cid}/report.pdf", follow_redirects=False).status_code == 303
    assert b["operator"].get("/ui/f0/999/report.pdf").status_code == 404


def test_f0_report_without_exposure_says_so(web, session_factory):
    _, _, b = web
    assert b["operator"].post("/ui/f0", {"pass_hash": F0}).status_code == 303
    with session_factory() as db:
        cid = db.scalar(select(F0Case.id))
    text, _ = pdf_text(b["operator"].get(f"/ui/f0/{cid}/report.pdf").content)
    flat = re.sub(r"\s+", " ", text)
    assert "Không tìm thấy nơi thẻ này đã vào" in flat and "Chưa tạm dừng doanh nghiệp nào" in flat
