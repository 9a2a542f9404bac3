"""Every dashboard text exists in Vietnamese and English; every reason code
has the gate's own text; every literal key a template uses is defined."""

from __future__ import annotations

import re
from pathlib import Path

from fleet.web import i18n
from greengate.passes import reasons

TEMPLATES = Path(i18n.__file__).resolve().parent / "templates"
VI_LETTERS = set("ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")


def test_every_text_has_both_languages():
    for key, (vi, en) in i18n.TEXTS.items():
        assert vi.strip() and en.strip(), key
    # Vietnamese really carries its diacritics.
    assert VI_LETTERS & set(i18n.t("vi", "nav.overview").lower())
    assert i18n.t("en", "nav.overview") == "Fleet overview"
    assert i18n.t("xx", "nav.overview") == i18n.t("vi", "nav.overview")


def test_every_reason_code_has_the_gate_text():
    for name, code in reasons.table().items():
        vi, en = i18n.reason_text("vi", code), i18n.reason_text("en", code)
        assert not vi.startswith("Lý do khác"), name
        assert not en.startswith("Other reason"), name
    assert i18n.reason_text("vi", 12) == "Đã bị thu hồi"
    assert i18n.reason_text("en", 999) == "Other reason (999)"


def test_template_keys_exist():
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", path.read_text(encoding="utf-8")))
    literal = {k for k in used if not k.endswith(".")}
    missing = sorted(k for k in literal if k not in i18n.TEXTS)
    assert not missing, missing
    # Dynamic keys ("bstatus." ~ status): the families exist, checked per value below.
    for prefix in used - literal:
        assert any(k.startswith(prefix) for k in i18n.TEXTS), prefix
    assert len(literal) > 80


def test_dynamic_key_families_cover_their_values():
    from fleet.models import BusinessStatus, OperatingMode, Sector, Zone
    from fleet.services import alerts, revocations
    from fleet.web import alert_list, listing

    for family, values in (("bstatus", [s.value for s in BusinessStatus]),
                           ("mode", [m.value for m in OperatingMode]),
                           ("sector", [s.value for s in Sector]), ("zone", [z.value for z in Zone]),
                           ("alert", alerts.KINDS), ("rev.reason", revocations.REASONS),
                           ("rev.lift", revocations.LIFT_REASONS), ("sev", alerts.SEVERITIES),
                           ("alerts.state", alert_list.STATES), ("list.range", listing.RANGES),
                           ("prole", [str(r) for r in range(5)])):
        for v in values:
            assert f"{family}.{v}" in i18n.TEXTS, (family, v)
