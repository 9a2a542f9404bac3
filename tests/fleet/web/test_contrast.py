"""WCAG 2.1 AA contrast of the dashboard's palette, computed from the colours
actually written in fleet/web/static/dashboard.css (custom properties
resolved): 4.5:1 for text, 3:1 for focus rings, field borders and map
markers (non-text contrast, success criterion 1.4.11)."""

from __future__ import annotations

import re

import pytest

from fleet.web import STATIC_DIR

CSS = (STATIC_DIR / "dashboard.css").read_text(encoding="utf-8")
TEXT, GRAPHIC = 4.5, 3.0


def _rules() -> dict[str, dict[str, str]]:
    """selector -> {property: value}; the first (desktop) rule wins, later
    declarations of the same selector are merged in when new."""
    css = re.sub(r"/\*.*?\*/", "", CSS, flags=re.S)
    out: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = {}
        for decl in body.split(";"):
            if ":" in decl:
                k, v = decl.split(":", 1)
                decls[k.strip()] = v.strip()
        for sel in selectors.split(","):
            sel = " ".join(sel.split())
            for k, v in decls.items():
                out.setdefault(sel, {}).setdefault(k, v)
    return out


RULES = _rules()
VARS = {k: v for k, v in RULES[":root"].items() if k.startswith("--")}


def colour(selector: str, prop: str) -> str:
    value = RULES[selector][prop]
    m = re.search(r"var\((--[\w-]+)\)|#[0-9a-fA-F]{3,6}\b", value)
    assert m, (selector, prop, value)
    return VARS[m.group(1)] if m.group(1) else m.group(0)


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(int(h[i:i + 2], 16) / 255) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


BODY_BG = ("body", "background")
CARD_BG = (".card", "background")
HEADER_BG = ("header.top", "background")
# (what, foreground (selector, property), background (selector, property), minimum)
PAIRS = [
    ("body text", ("body", "color"), BODY_BG, TEXT),
    ("muted on page", (".muted", "color"), BODY_BG, TEXT),
    ("muted on card", (".muted", "color"), CARD_BG, TEXT),
    ("links on page", ("a", "color"), BODY_BG, TEXT),
    ("links on card", ("a", "color"), CARD_BG, TEXT),
    ("header links", ("header.top a", "color"), HEADER_BG, TEXT),
    ("header user", (".me .who", "color"), HEADER_BG, TEXT),
    ("log-out button", ("button.link", "color"), HEADER_BG, TEXT),
    ("table header", (".grid-table th", "color"), (".grid-table th", "background"), TEXT),
    ("drift cell", (".grid-table td.drift", "color"), (".grid-table td.drift", "background"), TEXT),
    ("badge", (".badge", "color"), (".badge", "background"), TEXT),
    ("online badge", (".b-online", "color"), (".b-online", "background"), TEXT),
    ("offline badge", (".b-offline", "color"), (".b-offline", "background"), TEXT),
    ("pending badge", (".b-pending", "color"), (".b-pending", "background"), TEXT),
    ("green zone", (".z-green", "color"), (".z-green", "background"), TEXT),
    ("yellow zone", (".z-yellow", "color"), (".z-yellow", "background"), TEXT),
    ("orange zone", (".z-orange", "color"), (".z-orange", "background"), TEXT),
    ("red zone", (".z-red", "color"), (".z-red", "background"), TEXT),
    ("primary button", ("button.primary", "color"), ("button.primary", "background"), TEXT),
    ("danger button", ("button.danger", "color"), ("button.danger", "background"), TEXT),
    ("button", ("body", "color"), ("button", "background"), TEXT),
    ("flash", (".flash", "color"), (".flash", "background"), TEXT),
    ("error", (".error", "color"), (".error", "background"), TEXT),
    ("steps", ("body", "color"), (".steps", "background"), TEXT),
    ("tile label", (".tile span", "color"), (".tile", "background"), TEXT),
    ("footer", ("footer", "color"), BODY_BG, TEXT),
    ("live marker", (".live", "color"), BODY_BG, TEXT),
    ("empty state", (".empty", "color"), (".empty", "background"), TEXT),
    ("skip link", (".skip", "color"), (".skip", "background"), TEXT),
    ("map popup: online", (".popup-state", "color"), (".state-online", "background"), TEXT),
    ("map popup: offline", (".popup-state", "color"), (".state-offline", "background"), TEXT),
    ("map popup: suspended", (".popup-state", "color"), (".state-suspended", "background"), TEXT),
    ("map popup: alert", (".popup-state", "color"), (".state-alert", "background"), TEXT),
    ("focus ring on page", (":focus-visible", "outline"), BODY_BG, GRAPHIC),
    ("focus ring on card", (":focus-visible", "outline"), CARD_BG, GRAPHIC),
    ("focus ring in header", ("header.top :focus-visible", "outline-color"), HEADER_BG, GRAPHIC),
    ("field border", ("input", "border"), ("input", "background"), GRAPHIC),
    *[(f"map marker: {s}", (f".state-{s}", "background"), (".site-map.leaflet-container", "background"),
       GRAPHIC) for s in ("online", "offline", "suspended", "alert")],
]


@pytest.mark.parametrize("what, fg, bg, minimum", PAIRS, ids=[p[0] for p in PAIRS])
def test_contrast_aa(what, fg, bg, minimum):
    a, b = colour(*fg), colour(*bg)
    assert ratio(a, b) >= minimum, f"{what}: {a} on {b} is {ratio(a, b):.2f}:1 < {minimum}:1"


def test_the_checker_itself():
    assert round(ratio("#000", "#fff"), 1) == 21.0
    assert ratio("#777", "#fff") < TEXT < ratio("#767676", "#fff")  # the classic AA edge
    assert colour("body", "color") == VARS["--ink"]
    # marker states are told apart from each other, not only from the map
    states = [colour(f".state-{s}", "background") for s in ("online", "offline", "suspended", "alert")]
    assert len(set(states)) == 4
