"""Bitmap fonts: Vietnamese coverage under MicroPython, placeholder boxes for
missing glyphs, file vs in-memory reading, and a deterministic generator."""
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

from mpy import FIRMWARE, REPO

GEN = REPO / "tools" / "fonts" / "gen_font.py"
FONTS = ["sans10", "sans16", "bold24"]
VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]


def vietnamese_alphabet():
    """Vietnamese (and English) letters: every vowel with all five tones, both cases."""
    letters = set("abcdefghijklmnopqrstuvwxyz") | set("ăâđêôơư")
    for v in VOWELS:
        for t in TONES:
            ch = unicodedata.normalize("NFC", v + t)
            assert len(ch) == 1
            letters.add(ch)
    letters |= {c.upper() for c in letters}
    return "".join(sorted(letters))


ALPHABET = vietnamese_alphabet()


def test_alphabet_is_complete():
    # a-z, the 7 letters ă â đ ê ô ơ ư, and 12 vowels x 5 tones; both cases
    assert len(ALPHABET) == 2 * (26 + 7 + 12 * 5)
    for ch in "ĂÂĐÊÔƠƯăâđêôơư":
        assert ch in ALPHABET


@pytest.mark.parametrize("font", FONTS)
def test_font_covers_vietnamese(display_run, tmp_path, font):
    text = ALPHABET + " 0123456789 ✓✗•°→←…“”–"
    [a] = display_run([{"op": "text", "panel": "st7789", "font": font, "text": text,
                        "png": str(tmp_path / "t.png")}])
    missing = [c for c, ok in zip(text, a["found"]) if not ok]
    assert missing == []
    assert a["missing"] == 0


@pytest.mark.parametrize("font", FONTS)
def test_missing_glyph_draws_hollow_box(display_run, tmp_path, font):
    png = tmp_path / "box.png"
    [a] = display_run([{"op": "text", "panel": "ssd1306", "font": font, "text": "\u4e2d",
                        "png": str(png), "x": 0, "y": 0}])
    assert a["missing"] == 1 and a["found"] == [False]
    with Image.open(png) as im:
        px = im.convert("L").load()
        ink = [(x, y) for y in range(64) for x in range(128) if px[x, y]]
    assert ink, "placeholder drew nothing"
    x0, x1 = min(x for x, _ in ink), max(x for x, _ in ink)
    y0, y1 = min(y for _, y in ink), max(y for _, y in ink)
    assert x1 - x0 >= 2 and y1 - y0 >= 4
    # hollow: a rectangle outline, the inside stays dark
    assert all(px[x0, y] and px[x1, y] for y in range(y0, y1 + 1))
    assert all(px[x, y0] and px[x, y1] for x in range(x0, x1 + 1))
    assert not any(px[x, y] for x in range(x0 + 1, x1) for y in range(y0 + 1, y1))
    assert x1 < a["x"], "the box lies inside the advance it reported"


def test_decomposed_text_shows_placeholders(display_run, tmp_path):
    nfd = unicodedata.normalize("NFD", "Hết hạn")
    [a] = display_run([{"op": "text", "panel": "ssd1306", "font": "sans10", "text": nfd,
                        "png": str(tmp_path / "nfd.png")}])
    marks = sum(1 for c in nfd if unicodedata.combining(c))
    assert marks == 3 and a["missing"] == marks


def test_file_and_memory_fonts_draw_the_same(display_run):
    answers = display_run([{"op": "font_bytes", "font": f, "text": "Ấy Ưỡ Đg✓"}
                           for f in FONTS])
    for a in answers:
        assert a["file"] == a["blob"]
        assert set(a["file"]) != {"0"}


def _generate(out: Path):
    subprocess.run([sys.executable, str(GEN), "--out", str(out)], check=True,
                   capture_output=True)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_generator_is_deterministic_and_committed(tmp_path):
    a = _generate(tmp_path / "a")
    b = _generate(tmp_path / "b")
    assert a == b
    assert set(a) == {f"font_{f}.bin" for f in FONTS} | {"icons.py"}
    for name, data in a.items():
        assert (FIRMWARE / "display" / name).read_bytes() == data, (
            f"{name} is stale: run python3 tools/fonts/gen_font.py")


def test_font_files_are_compact():
    # 1 bpp cropped glyphs: a 305-glyph 16 px font well under 16 KiB
    for f in FONTS:
        data = (FIRMWARE / "display" / f"font_{f}.bin").read_bytes()
        assert data[:4] == b"GGF1"
        n = int.from_bytes(data[6:8], "little")
        assert n >= 300
        assert len(data) < 16 * 1024
