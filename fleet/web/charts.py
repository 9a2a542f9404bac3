"""Server-rendered SVG charts (our own code, no chart library): stacked
accepted/denied bars over time, and small sparklines for tables. Output is
markup-safe: every label is escaped."""

from __future__ import annotations

import datetime as dt
from datetime import tzinfo
from html import escape

from markupsafe import Markup

ACCEPT = "#2e7d32"
DENY = "#c62828"


def _nice_max(v: int) -> int:
    """Smallest 4 x (1, 2 or 5 x 10^k) >= v: four gridlines with whole labels."""
    step = 1
    while 4 * step < v:
        for m in (2, 5 / 2, 2):  # 1 -> 2 -> 5 -> 10 -> 20 ...
            step = int(step * m)
            if 4 * step >= v:
                break
    return 4 * step


def _label(ts: int, bucket: int, tz: tzinfo, days: bool = False) -> str:
    """Hour of day; with `days` (an hourly chart over several days) the date too."""
    d = dt.datetime.fromtimestamp(ts, tz)
    if bucket >= 86400:
        return d.strftime("%d/%m")
    return d.strftime("%d/%m %H:%M") if days else d.strftime("%H:%M")


def stacked_bars(series: list[tuple[int, int, int]], bucket: int, title: str,
                 labels: tuple[str, str], tz: tzinfo = dt.timezone.utc, axis: str = "",
                 width: int = 760, height: int = 260) -> Markup:
    """series: [(bucket start, accepted, denied)] -> an accessible SVG; time
    labels in `tz`, `axis` names the time axis (with the zone)."""
    left, right, top, bottom = 48, 12, 28, 52
    w, h = width - left - right, height - top - bottom
    peak = _nice_max(max((a + d for _, a, d in series), default=0))
    n = max(1, len(series))
    slot = w / n
    bar = max(1.0, slot * 0.78)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>']
    for i in range(5):  # grid + y labels
        v = peak * i / 4
        y = top + h - h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{int(v)}</text>')
    every = max(1, n // 8)
    days = bucket < 86400 and n * bucket > 86400
    for i, (start, acc, den) in enumerate(series):
        x = left + i * slot + (slot - bar) / 2
        ha = h * acc / peak
        hd = h * den / peak
        tip = escape(f"{_label(start, bucket, tz, True)}: {labels[0]} {acc}, {labels[1]} {den}")
        parts.append(f'<g><title>{tip}</title>')
        parts.append(f'<rect x="{x:.1f}" y="{top + h - ha:.1f}" width="{bar:.1f}" height="{ha:.1f}" fill="{ACCEPT}"/>')
        parts.append(f'<rect x="{x:.1f}" y="{top + h - ha - hd:.1f}" width="{bar:.1f}" height="{hd:.1f}" fill="{DENY}"/>')
        parts.append('</g>')
        if i % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + h + 16}" class="axis" '
                         f'text-anchor="middle">{escape(_label(start, bucket, tz, days))}</text>')
    if axis:
        parts.append(f'<text x="{left + w / 2:.1f}" y="{height - 6}" class="axis axis-title" '
                     f'text-anchor="middle">{escape(axis)}</text>')
    lx = left
    for colour, text in ((ACCEPT, labels[0]), (DENY, labels[1])):
        parts.append(f'<rect x="{lx}" y="8" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 16}" y="18" class="legend">{escape(text)}</text>')
        lx += 24 + 8 * len(text)
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(accepted: list[int], denied: list[int], width: int = 160, height: int = 32) -> Markup:
    peak = max([a + d for a, d in zip(accepted, denied)] + [1])
    n = max(1, len(accepted))
    slot = width / n

    def points(values: list[int]) -> str:
        return " ".join(f"{i * slot + slot / 2:.1f},{height - 2 - (height - 4) * v / peak:.1f}"
                        for i, v in enumerate(values))

    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-hidden="true" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline fill="none" stroke="{ACCEPT}" stroke-width="1.5" points="{points(accepted)}"/>'
        f'<polyline fill="none" stroke="{DENY}" stroke-width="1.5" points="{points(denied)}"/>'
        "</svg>")
