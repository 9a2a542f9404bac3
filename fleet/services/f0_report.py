"""The F0 case report, a PDF for contact tracers (reportlab, DejaVu Sans
from Debian's fonts-dejavu-core for the Vietnamese diacritics): the case,
its timeline, the exposure list grouped by business and site with the
entry times (the F0 pass's visits, and each contact pass's admissions in
the case window), the suspended businesses and the audit trail. Vietnamese
first, English second; times in the district's local time zone.

Privacy: passes appear as their hashes only (the health office resolves
them in the pass registry); businesses and sites by name and address."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session

from fleet.models import AuditLog, Business, F0Case, Scan, Site, utcnow

from . import f0
from .passes import _font as dejavu_fonts  # the pass card's registered DejaVu Sans pair

# audit actions of a case's timeline: (Vietnamese, English)
STEPS = {
    "f0.mark": ("Đánh dấu F0", "Marked F0"),
    "pass.revoke": ("Thu hồi thẻ trên mọi cổng", "Pass revoked on every gate"),
    "f0.exposure": ("Lập danh sách tiếp xúc", "Exposure list made"),
    "f0.suspend": ("Tạm dừng doanh nghiệp liên quan", "Affected businesses suspended"),
    "business.suspended": ("Doanh nghiệp tạm dừng", "Business suspended"),
    "business.approved": ("Doanh nghiệp hoạt động lại", "Business reinstated"),
    "f0.close": ("Đóng ca", "Case closed"),
    "f0.report": ("Tải báo cáo", "Report downloaded"),
}
STATUS = {"open": ("Đang xử lý", "Open"), "closed": ("Đã đóng", "Closed"),
          "approved": ("Đang hoạt động", "Approved"), "suspended": ("Tạm dừng", "Suspended"),
          "pending": ("Chờ duyệt", "Pending"), "rejected": ("Bị từ chối", "Rejected")}
TRAIL_MAX = 500


@dataclass
class SiteExposure:
    site_id: int
    name: str
    address: str
    visits: list[dt.datetime]                    # the F0 pass's admissions
    contacts: dict[str, list[dt.datetime]] = field(default_factory=dict)  # pass -> admissions


@dataclass
class BusinessExposure:
    business_id: str | None
    name: str
    ward: str
    address: str
    status: str
    sites: list[SiteExposure]


def trail(db: Session, c: F0Case) -> list[AuditLog]:
    """The case's audit trail: the pass, the case, the businesses it touched."""
    ids = f0.affected_businesses(c)
    return list(db.scalars(select(AuditLog).where(or_(
        and_(AuditLog.target_type == "pass", AuditLog.target_id == c.pass_hash),
        and_(AuditLog.target_type == "f0_case", AuditLog.target_id == str(c.id)),
        and_(AuditLog.target_type == "business", AuditLog.target_id.in_(ids),
             AuditLog.at >= c.opened_at))).order_by(AuditLog.id).limit(TRAIL_MAX)))


def _contact_times(db: Session, site_id: int, passes: list[str], visits: list[int],
                   window_s: int) -> dict[str, list[int]]:
    """Admissions of the contact passes at the site within the case window
    of any visit (the same best-time rule as the exposure search)."""
    if not passes or not visits:
        return {}
    t = case((Scan.time_valid.is_(True), Scan.time), else_=Scan.received_at)
    near = or_(*[and_(t >= v - window_s, t <= v + window_s) for v in visits])
    out: dict[str, list[int]] = {}
    for h, at in db.execute(select(Scan.pass_hash, t).where(
            Scan.site_id == site_id, Scan.pass_hash.in_(passes), Scan.verdict.is_(True), near)
            .order_by(t)):
        out.setdefault(h, []).append(int(at))
    return out


def exposure(db: Session, c: F0Case, zone: ZoneInfo) -> list[BusinessExposure]:
    def local(ts: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, zone)

    window_s = int(c.window_hours * 3600)
    by_business: dict[str | None, list[SiteExposure]] = {}
    for e in c.exposure or []:
        site = db.get(Site, e["site_id"])
        times = _contact_times(db, e["site_id"], list(e.get("passes") or []), e.get("visits") or [],
                               window_s)
        by_business.setdefault(e.get("business_id"), []).append(SiteExposure(
            e["site_id"], site.name if site else f"#{e['site_id']}", site.address if site else "",
            [local(v) for v in e.get("visits") or []],
            {h: [local(x) for x in times.get(h, [])] for h in e.get("passes") or []}))
    out = []
    for bid in sorted(by_business, key=lambda b: b or ""):
        b = db.get(Business, bid) if bid else None
        out.append(BusinessExposure(bid, b.name if b else "—", b.ward if b else "",
                                    b.address if b else "", b.status if b else "",
                                    sorted(by_business[bid], key=lambda s: s.site_id)))
    return out


def render(db: Session, c: F0Case, zone: ZoneInfo, generated_by: str,
           now: dt.datetime | None = None) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table,
                                    TableStyle)
    from xml.sax.saxutils import escape

    regular, bold = dejavu_fonts()
    now = (now or utcnow()).astimezone(zone)
    fmt = lambda t: t.astimezone(zone).strftime("%d/%m/%Y %H:%M") if t else "—"  # noqa: E731
    base = ParagraphStyle("gg", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle("gg-small", parent=base, fontSize=7.5, leading=9.5)
    en = ParagraphStyle("gg-en", parent=small, textColor=colors.HexColor("#4b5563"))
    h1 = ParagraphStyle("gg-h1", parent=base, fontName=bold, fontSize=16, leading=20, spaceAfter=2)
    h2 = ParagraphStyle("gg-h2", parent=base, fontName=bold, fontSize=12, leading=15,
                        spaceBefore=10, spaceAfter=4)
    h3 = ParagraphStyle("gg-h3", parent=base, fontName=bold, fontSize=10, leading=13, spaceBefore=6)
    P = lambda text, style=base: Paragraph(escape(str(text)), style)  # noqa: E731

    def heading(vi: str, english: str, style=h2) -> Paragraph:
        return Paragraph(f"{escape(vi)} <font size='{style.fontSize - 3}' color='#4b5563'>"
                         f"/ {escape(english)}</font>", style)

    def table(rows: list[list], widths: list[float], header: bool = True) -> Table:
        t = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
        t.setStyle(TableStyle([
            ("FONTNAME", (0, 0), (-1, -1), regular), ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c7ced8")),
            *([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
               ("FONTNAME", (0, 0), (-1, 0), bold)] if header else [])]))
        return t

    width = A4[0] - 30 * mm
    story: list = [
        Paragraph(f"BÁO CÁO CA F0 #{c.id} <font size='11' color='#4b5563'>/ F0 CASE REPORT</font>", h1),
        P(f"GreenGate · Tạo lúc / generated {now:%d/%m/%Y %H:%M} ({zone.key}) · "
          f"bởi / by {generated_by}", small),
        P("Tài liệu phục vụ truy vết, chỉ dùng cho cơ quan y tế. Thẻ được ghi bằng mã băm, "
          "không có họ tên. / For contact tracers only. Passes appear as hashes, never names.", en),
        Spacer(1, 4 * mm),
    ]
    status = STATUS.get(c.status, (c.status, c.status))
    story += [heading("Thông tin ca", "Case"), table([
        [P("Mã băm thẻ F0 / F0 pass hash", small), P(c.pass_hash)],
        [P("Trạng thái / Status", small), P(f"{status[0]} / {status[1]}")],
        [P("Mở lúc / Opened", small), P(f"{fmt(c.opened_at)} · {c.opened_by}")],
        [P("Khoảng truy vết / Look-back", small),
         P(f"{c.window_days} ngày / days, ± {c.window_hours:g} giờ / hours")],
    ], [50 * mm, width - 50 * mm], header=False)]

    log = trail(db, c)
    story.append(heading("Diễn biến", "Timeline"))
    steps = [[P("Thời gian / Time", small), P("Bước / Step", small), P("Người / By", small)]]
    for a in log:
        if a.action in STEPS:
            vi, english = STEPS[a.action]
            target = f" {a.target_id}" if a.target_type == "business" else ""
            steps.append([P(fmt(a.at)), Paragraph(f"{escape(vi + target)}<br/><font color='#4b5563' "
                                                  f"size='7'>{escape(english + target)}</font>", base),
                          P(a.actor)])
    story.append(table(steps, [32 * mm, width - 72 * mm, 40 * mm]))

    groups = exposure(db, c, zone)
    n_sites = sum(len(g.sites) for g in groups)
    n_passes = len({h for g in groups for s in g.sites for h in s.contacts})
    story += [heading("Danh sách tiếp xúc", "Exposure list"),
              P(f"{len(groups)} doanh nghiệp, {n_sites} địa điểm, {n_passes} thẻ tiếp xúc / "
                f"{len(groups)} businesses, {n_sites} sites, {n_passes} contact passes", small)]
    if not groups:
        story.append(P("Không tìm thấy nơi thẻ này đã vào trong khoảng truy vết. / "
                       "No site admitted this pass in the look-back window."))
    for g in groups:
        st = STATUS.get(g.status, (g.status, g.status))
        block = [Paragraph(f"{escape(g.name)} <font color='#4b5563'>({escape(g.business_id or '—')}"
                           f" · {escape(st[0])} / {escape(st[1])})</font>", h3),
                 P(f"{g.address} · {g.ward}", small)]
        story.append(KeepTogether(block))
        for s in g.sites:
            visits = ", ".join(t.strftime("%d/%m/%Y %H:%M") for t in s.visits)
            rows = [[P("Địa điểm / Site", small),
                     P(f"{s.name} (#{s.site_id}){' · ' + s.address if s.address else ''}")],
                    [P("Thẻ F0 vào lúc / F0 pass entered", small), P(visits or "—")]]
            story.append(table(rows, [45 * mm, width - 45 * mm], header=False))
            contacts = [[P("Thẻ tiếp xúc / Contact pass", small),
                         P("Giờ vào (trong khung ±) / Entry times (in the ± window)", small)]]
            for h in sorted(s.contacts):
                times = ", ".join(t.strftime("%d/%m %H:%M") for t in s.contacts[h]) or "—"
                contacts.append([P(h), P(times)])
            if len(contacts) == 1:
                contacts.append([P("—"), P("Không có thẻ khác trong khung giờ. / "
                                            "No other pass in the window.")])
            story += [Spacer(1, 1.5 * mm), table(contacts, [75 * mm, width - 75 * mm]),
                      Spacer(1, 3 * mm)]

    story.append(heading("Doanh nghiệp bị tạm dừng", "Suspended businesses"))
    suspended = list(c.suspended_businesses or [])
    if suspended:
        rows = [[P("Mã / ID", small), P("Tên / Name", small), P("Hiện tại / Now", small)]]
        for bid in suspended:
            b = db.get(Business, bid)
            st = STATUS.get(b.status if b else "", ("—", "—"))
            rows.append([P(bid), P(b.name if b else "—"), P(f"{st[0]} / {st[1]}")])
        story.append(table(rows, [30 * mm, width - 75 * mm, 45 * mm]))
    else:
        story.append(P("Chưa tạm dừng doanh nghiệp nào. / No business suspended yet."))

    story.append(heading("Nhật ký thao tác", "Audit trail"))
    rows = [[P("Thời gian / Time", small), P("Người / By", small), P("Thao tác / Action", small),
             P("Chi tiết / Detail", small)]]
    for a in log:
        detail = " ".join(f"{k}={v}" for k, v in (a.detail or {}).items())
        rows.append([P(fmt(a.at), small), P(a.actor, small),
                     P(f"{a.action} {a.target_type} {a.target_id}", small), P(detail, small)])
    story.append(table(rows, [28 * mm, 28 * mm, 60 * mm, width - 116 * mm]))

    def footer(canvas, doc) -> None:  # noqa: ANN001
        canvas.saveState()
        canvas.setFont(regular, 7)
        canvas.drawString(15 * mm, 10 * mm, f"GreenGate · Ca F0 / F0 case #{c.id}")
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"Trang / Page {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=18 * mm,
                            title=f"Báo cáo ca F0 #{c.id} / F0 case report",
                            author="GreenGate", subject="F0 exposure list")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
