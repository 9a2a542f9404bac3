"""Issuing passes through greengate/passes (the fleet keeps only metadata:
hash, cti, role, initials, birth year, business, validity: never a full name)
and printable credit-card-size PDF cards for people without smartphones."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.core.config import StorageSettings
from fleet.models import Issuer, Pass
from greengate.passes import claims as gc
from greengate.passes import issue as gi
from greengate.passes import keys as gk
from greengate.passes import verify as gv

from . import audit, registry

ROLE_LABELS = {  # Vietnamese / English, shown on the card
    0: ("Cư dân", "Resident"),
    1: ("Người lao động", "Worker"),
    2: ("Giao hàng", "Shipper"),
    3: ("Cán bộ / Tình nguyện viên", "Official / Volunteer"),
    4: ("Đi chợ hộ", "Shopping on behalf"),
}


def load_issuer_key(db: Session, settings: StorageSettings, actor: str = "system") -> Ed25519PrivateKey:
    """The district issuer key; created on first use in the demo only. Its public
    key is on the trust list (Issuer table)."""
    path = Path(settings.pass_issuer_key_path)
    if not path.exists():
        if not settings.demo:
            raise errors.ConfigError(f"issuer key {path} missing: create it with "
                                     "`greengate pass keygen` or set GREENGATE_ISSUER_KEY_PATH",
                                     code="NO_ISSUER_KEY")
        path.parent.mkdir(parents=True, exist_ok=True)
        gk.save_private_key(path, gk.generate())
    try:
        key = gk.load_private_key(path)
    except gk.TrustFileError as e:
        raise errors.ConfigError(str(e), code="BAD_ISSUER_KEY") from None
    pub = gk.raw_public(key).hex()
    if db.scalar(select(Issuer).where(Issuer.public_key == pub)) is None:
        registry.add_issuer(db, settings.issuer_name, pub, actor, note="fleet issuer")
    return key


def pass_hash_of(qr_text: str) -> tuple[str, gv.Sign1]:
    try:
        sign1 = gv.parse_sign1(gv.unwrap(qr_text))
    except gv.Reject as e:
        raise errors.BadRequest(f"not a GG1 pass: {e}", code="BAD_PASS") from None
    return hashlib.sha256(sign1.signature).digest()[:16].hex(), sign1


@dataclass(frozen=True)
class PassRequest:
    role: int
    initials: str
    birth_year: int
    valid_days: int = 30
    business_id: str | None = None
    doses: int | None = None
    last_dose: dt.date | None = None
    zone: int | None = None


def issue_pass(db: Session, settings: StorageSettings, req: PassRequest, actor: str,
               now: int | None = None) -> tuple[Pass, str]:
    if req.business_id is not None:
        registry.get_business(db, req.business_id)
    key = load_issuer_key(db, settings, actor)
    now = int(now if now is not None else dt.datetime.now(dt.timezone.utc).timestamp())
    cti = os.urandom(12)
    try:
        claims = gc.PassClaims(
            iss=settings.issuer_name, iat=now, exp=now + req.valid_days * 86400,
            role=gc.Role(req.role), cti=cti, initials=req.initials, birth_year=req.birth_year,
            vaccination=(gc.Vaccination(req.doses, req.last_dose)
                         if req.doses is not None and req.last_dose is not None else None),
            business=req.business_id,
            zone=gc.Zone(req.zone) if req.zone is not None else None)
        text = gi.issue(claims, key)
    except (gc.ClaimsError, ValueError) as e:
        raise errors.BadRequest(f"pass claims: {e}", code="BAD_CLAIMS") from None
    pass_hash, _ = pass_hash_of(text)
    row = Pass(pass_hash=pass_hash, cti=cti.hex(), iss=settings.issuer_name, role=req.role,
               initials=claims.normalised().initials, birth_year=req.birth_year,
               business_id=req.business_id, issued_by=actor,
               issued_at=dt.datetime.fromtimestamp(now, dt.timezone.utc),
               expires_at=dt.datetime.fromtimestamp(claims.exp, dt.timezone.utc))
    db.add(row)
    db.flush()
    audit.record(db, actor, "pass.issue", "pass", pass_hash, role=req.role,
                 business_id=req.business_id)
    return row, text


# -- printable card ---------------------------------------------------------------

CARD_W_MM, CARD_H_MM = 85.6, 53.98  # ISO/IEC 7810 ID-1 (credit card)
_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _font() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if all(Path(p).exists() for p in _FONT_PATHS):
        if "GGSans" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("GGSans", _FONT_PATHS[0]))
            pdfmetrics.registerFont(TTFont("GGSans-Bold", _FONT_PATHS[1]))
        return "GGSans", "GGSans-Bold"
    # Core fonts cannot show Vietnamese diacritics: Debian's fonts-dejavu-core can.
    raise errors.ConfigError("DejaVu fonts missing (Debian package fonts-dejavu-core)",
                             code="NO_FONT")


def card_pdf(p: Pass, qr_text: str) -> bytes:
    """One credit-card-size page: QR on the left, initials, birth year, role
    (Vietnamese and English), validity and the short pass hash on the right."""
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    h, _ = pass_hash_of(qr_text)
    if h != p.pass_hash:
        raise errors.BadRequest("QR text does not belong to this pass", code="PASS_MISMATCH")
    regular, bold = _font()
    png = io.BytesIO()
    gi.make_qr(qr_text).save(png, kind="png", scale=8, border=4)
    png.seek(0)
    buf = io.BytesIO()
    w, hgt = CARD_W_MM * mm, CARD_H_MM * mm
    c = canvas.Canvas(buf, pagesize=(w, hgt))
    c.setTitle("GreenGate pass card")
    qr_size = hgt - 6 * mm
    c.drawImage(ImageReader(png), 3 * mm, 3 * mm, qr_size, qr_size)
    x = 3 * mm + qr_size + 2 * mm
    vi, en = ROLE_LABELS.get(p.role, ("?", "?"))
    lines = [
        (bold, 8, "THẺ ĐI LẠI / PASS"),
        (bold, 16, p.initials),
        (regular, 7, f"Năm sinh / Born: {p.birth_year}"),
        (regular, 7, vi),
        (regular, 7, en),
    ]
    if p.business_id:
        lines.append((regular, 7, f"DN / Business: {p.business_id}"))
    lines += [
        (regular, 6, f"Hết hạn / Expires: {p.expires_at:%d/%m/%Y}"),
        (regular, 5, f"#{p.pass_hash[:12]}"),
    ]
    y = hgt - 7 * mm
    for font, size, text in lines:
        c.setFont(font, size)
        c.drawString(x, y, text)
        y -= size + 3.5
    c.showPage()
    c.save()
    return buf.getvalue()
