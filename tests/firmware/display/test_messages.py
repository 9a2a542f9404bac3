"""Screen texts: Vietnamese + English for every reason code and role, drawn
without placeholders; long or odd texts never crash a screen."""
import json
import re
import unicodedata

import pytest
from PIL import Image

from mpy import FIRMWARE, run_micropython

SCRIPT = """
import json
from verify import reasons
from display import messages as M
out = {"codes": M.known_reason_codes(), "reason": {}, "role": {},
       "names": {}, "unknown": M.reason(99), "unknown_role": M.role(7), "nonint": M.reason("x")}
for c in range(0, 64):
    if reasons.name(c) != "UNKNOWN":
        out["reason"][str(c)] = M.reason(c)
        out["names"][str(c)] = reasons.name(c)
for r in range(5):
    out["role"][str(r)] = M.role(r)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def texts():
    proc = run_micropython(SCRIPT)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def reason_names_from_source():
    """Every NAME = const(N) in verify/reasons.py, read as text (independent check)."""
    src = (FIRMWARE / "verify" / "reasons.py").read_text(encoding="utf-8")
    return {int(n): name for name, n in re.findall(r"^(\w+) = const\((\d+)\)", src, re.M)
            if not name.startswith("_")}


VI_MARKS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")


def test_every_reason_code_has_both_languages(texts):
    codes = reason_names_from_source()
    assert sorted(codes) == texts["codes"]
    for code in codes:
        vi, en = texts["reason"][str(code)]
        assert vi and en and vi != en, code
        assert unicodedata.normalize("NFC", vi) == vi
        assert en.isascii(), (code, en)
    # Vietnamese texts really carry diacritics (not ASCII transliterations)
    with_marks = [c for c in codes if set(texts["reason"][str(c)][0].lower()) & VI_MARKS]
    assert len(with_marks) >= len(codes) - 2


def test_key_reason_texts(texts):
    r = texts["reason"]
    assert r["10"] == ["Hết hạn", "Expired"]
    assert r["12"] == ["Đã bị thu hồi", "Revoked"]
    assert r["19"] == ["Ngoài giờ mở cửa", "Outside opening hours"]


def test_roles_and_fallbacks(texts):
    assert [texts["role"][str(i)][0] for i in range(5)] == [
        "Cư dân", "Người lao động", "Shipper / Giao hàng", "Cán bộ / Tình nguyện viên",
        "Đi chợ hộ"]
    assert "99" in texts["unknown"][0] and "99" in texts["unknown"][1]
    assert "7" in texts["unknown_role"][1]
    assert texts["nonint"][1].startswith("Denied")


def test_every_text_renders_without_placeholder(display_run, texts):
    reqs = []
    for panel in ("ssd1306", "st7789"):
        for code in texts["codes"]:
            reqs.append({"op": "screen", "panel": panel, "method": "deny", "args": [code]})
        for role in range(5):
            reqs.append({"op": "screen", "panel": panel, "method": "accept",
                         "args": [role, "ĐƯỢC", 1980]})
    for q, a in zip(reqs, display_run(reqs)):
        assert a["missing"] == 0, q


ODD = [
    "",                                   # empty
    "x" * 400,                            # one word far wider than the screen
    "Cổng " * 300,                        # very long text
    "😀 emoji 中文 עברית",                  # outside the font, outside the BMP
    unicodedata.normalize("NFD", "Người lao động Đi chợ hộ"),
    "line\nbreaks\n\n\nand   spaces",
    "\u0301\u0301 leading marks",
    None,                                 # not text at all
    12345,
]


@pytest.mark.parametrize("panel", ["ssd1306", "st7789"])
def test_odd_texts_never_crash(display_run, tmp_path, panel):
    reqs = []
    for i, s in enumerate(ODD):
        for method, args in (("error", [s]), ("message", [s, "abc"]), ("setup", [s]),
                             ("idle", [s, s, False, s, s, s]), ("accept", [9, s, s]),
                             ("deny", [s])):
            reqs.append({"op": "screen", "panel": panel, "method": method, "args": args,
                         "png": str(tmp_path / f"{method}_{i}.png")})
    answers = display_run(reqs)
    for q, a in zip(reqs, answers):
        with Image.open(q["png"]) as im:
            im.load()
            assert im.size in ((128, 64), (240, 240))
        if q["method"] == "message":
            assert a["ret"] == 10_000  # unparsable seconds -> default
