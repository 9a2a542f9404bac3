"""Every screen on both panels, rendered by the real firmware under
MicroPython through its own PNG writer, compared pixel-exactly with the
reviewed golden images in golden/.

Regenerate after an intended change, then LOOK at every changed image:
    GG_UPDATE_GOLDEN=1 python3 -m pytest -q tests/firmware/display/test_screens.py
"""
import os
import shutil
import zlib
from pathlib import Path

import pytest
from PIL import Image

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("GG_UPDATE_GOLDEN") == "1"
PANELS = {"ssd1306": (128, 64, "1"), "st7789": (240, 240, "RGB")}

LONG = ("Thông báo từ ban quản lý: cổng phía Bắc đóng cửa từ 18 giờ để khử khuẩn, "
        "mọi người vui lòng đi cổng phía Nam. Notice from the management: the north "
        "gate closes at 18:00 for disinfection, please use the south gate. ") * 4

# name -> (method, args, lang); every one is a golden image on both panels
CASES = {
    "idle": ("idle", ["Chợ Bình Tây – Cổng 2", "10:42", True, 12, 345, 0], "vi+en"),
    "idle_offline": ("idle", ["Siêu thị Co.opmart Phú Mỹ Hưng Quận 7", "23:59", False,
                              7, 8, 42], "vi+en"),
    "accept_resident": ("accept", [0, "LTH", 1990], "vi+en"),
    "accept_worker": ("accept", [1, "NTAT", 1987], "vi+en"),
    "accept_shipper": ("accept", [2, "PVĐ", 2001], "vi+en"),
    "accept_official": ("accept", [3, "ĐVƯ", 1969], "vi+en"),
    "accept_shopping": ("accept", [4, "TTBÂ", 1955], "vi+en"),
    "deny_expired": ("deny", [10], "vi+en"),
    "deny_revoked": ("deny", [12], "vi+en"),
    "deny_hours": ("deny", [19], "vi+en"),
    "deny_test": ("deny", [16], "vi+en"),
    "deny_unknown_code": ("deny", [99], "vi+en"),
    "out_of_sync": ("out_of_sync", [], "vi+en"),
    "suspended": ("suspended", [], "vi+en"),
    "full": ("full", [], "vi+en"),
    "setup": ("setup", ["gg-7f3a9c"], "vi+en"),
    "error": ("error", ["Máy quét không phản hồi / Scanner not responding"], "vi+en"),
    "message": ("message", ["Cổng đóng lúc 18:00 hôm nay. Gate closes at 18:00 today.", 30],
                "vi+en"),
    "message_long": ("message", [LONG, 60], "vi+en"),
    "deny_vi_only": ("deny", [22], "vi"),
    "accept_en_only": ("accept", [2, "PVĐ", 2001], "en"),
    # decomposed (NFD) text must show placeholders, not crash
    "error_decomposed": ("error", ["Le\u0302\u0303i ma\u0301y que\u0301t"], "vi+en"),
}


@pytest.fixture(scope="module")
def rendered(display_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("screens")
    reqs = []
    for panel in PANELS:
        for name, (method, args, lang) in CASES.items():
            reqs.append({"op": "screen", "panel": panel, "method": method, "args": args,
                         "lang": lang, "png": str(out / f"{panel}_{name}.png"),
                         "pbm": str(out / f"{panel}_{name}.pbm")})
    answers = display_run(reqs)
    return out, {(q["panel"], Path(q["png"]).stem.split("_", 1)[1]): a
                 for q, a in zip(reqs, answers)}


@pytest.mark.parametrize("panel", list(PANELS))
@pytest.mark.parametrize("name", list(CASES))
def test_screen_matches_golden(rendered, panel, name):
    out, answers = rendered
    png = out / f"{panel}_{name}.png"
    w, h, mode = PANELS[panel]
    with Image.open(png) as im:
        im.load()  # Pillow checks chunk CRCs and the zlib stream
        assert im.size == (w, h) and im.mode == mode
        got = im.convert("RGB")
    golden = GOLDEN / png.name
    if UPDATE:
        shutil.copyfile(png, golden)
    assert golden.exists(), f"no golden image {golden.name}: run with GG_UPDATE_GOLDEN=1 and review it"
    with Image.open(golden) as g:
        want = g.convert("RGB")
    assert got.tobytes() == want.tobytes(), f"{png.name} differs from its golden image"


@pytest.mark.parametrize("panel", list(PANELS))
def test_no_placeholders_in_normal_screens(rendered, panel):
    _, answers = rendered
    for name in CASES:
        missing = answers[(panel, name)]["missing"]
        if name == "error_decomposed":
            assert missing == 4, "each of the 4 NFD marks should show a placeholder"
        else:
            assert missing == 0, f"{name}: {missing} characters without a glyph"


def test_message_returns_hold_time(rendered):
    _, answers = rendered
    assert answers[("ssd1306", "message")]["ret"] == 30_000
    assert answers[("st7789", "message_long")]["ret"] == 60_000


@pytest.mark.parametrize("panel", list(PANELS))
def test_pbm_matches_png(rendered, panel):
    """The PBM dump is the 1-bit canvas: ink where the PNG is not background."""
    out, _ = rendered
    with Image.open(out / f"{panel}_idle.pbm") as pbm:
        assert pbm.size == PANELS[panel][:2]
        ink = pbm.convert("L").histogram()[0]
    assert ink > 200


def test_png_is_valid_zlib(rendered):
    """The IDAT stream inflates with CPython's zlib (adler32 checked)."""
    out, _ = rendered
    data = (out / "st7789_idle.png").read_bytes()
    pos, idat = 8, b""
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        crc = int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big")
        assert crc == zlib.crc32(data[pos + 4:pos + 8 + n])
        pos += 12 + n
    raw = zlib.decompress(idat)
    assert len(raw) == 240 * (1 + 240 * 3)
