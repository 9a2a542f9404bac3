"""Dashboard texts for versions, local time, the site map, the 404 page and
accessibility (key -> (Vietnamese, English)); merged into i18n.TEXTS. Kept in
their own module so the page families stay easy to review."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "ver.resigned": ("chờ bản ký lại", "re-signed copy pending"),
    "ver.published": ("đang gửi tới cổng", "being sent to gates"),
}
