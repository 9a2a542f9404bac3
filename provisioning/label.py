"""The device label: device id as a QR code, PNG and PDF (62 x 29 mm)."""

from __future__ import annotations

from pathlib import Path

import segno


def write_label(device_id: str, site: str | None, out_dir: Path) -> tuple[Path, Path]:
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    out_dir.mkdir(parents=True, exist_ok=True)
    qr = segno.make(device_id, error="m")
    png = out_dir / f"{device_id}.png"
    qr.save(png, scale=8, border=2)
    pdf = out_dir / f"{device_id}.pdf"
    w, h = 62 * mm, 29 * mm
    c = canvas.Canvas(str(pdf), pagesize=(w, h))
    c.drawImage(str(png), 1.5 * mm, 1.5 * mm, 26 * mm, 26 * mm)
    c.setFont("Helvetica-Bold", 9)
    c.drawString(30 * mm, 19 * mm, device_id)
    c.setFont("Helvetica", 7)
    c.drawString(30 * mm, 14 * mm, "GreenGate")
    if site:
        c.drawString(30 * mm, 9 * mm, f"site {site}"[:28])
    c.showPage()
    c.save()
    return png, pdf
