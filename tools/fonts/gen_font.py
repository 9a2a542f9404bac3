#!/usr/bin/env python3
"""Generate the gate display's bitmap fonts (host CPython + Pillow).

Source: DejaVu Sans / DejaVu Sans Bold from Debian's `fonts-dejavu-core`
(Bitstream Vera licence + public-domain DejaVu changes; see docs/display.md).
Each size is rasterised with FreeType's monochrome hinting (Pillow mode "1"),
cropped to each glyph's ink box and packed 1 bit per pixel into a .bin file
that the firmware reads glyph by glyph from flash (firmware/display/font.py).

File layout (little-endian), "GGF1":
    0  4  magic b"GGF1"
    4  u8 line height (px)      5  u8 baseline (px from line top)
    6  u16 glyph count N        8  u16 index of U+0020 if U+0020..U+007E are
                                        all present and consecutive, else 0xFFFF
   10  u8 max glyph width      11  u8 max glyph rows
   12  u16 max glyph record bytes  14 u16 placeholder advance
   16  N x u16 codepoints (sorted, all in the BMP)
   16+2N  N x u16 record offsets (from the start of the record area)
   16+4N  N x u8 advances (so measuring text needs no glyph reads)
   16+5N  records: u8 width, i8 x offset, u8 top row (from the line top),
          u8 rows, then rows x ceil(width/8) bytes MONO_HLSB (MSB = leftmost
          pixel).

Deterministic: the same inputs give the same bytes (checked by a test).
Usage: python3 tools/fonts/gen_font.py [--out firmware/display] [--check]
"""

from __future__ import annotations

import argparse
import struct
import sys
import unicodedata
from pathlib import Path

from PIL import ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
REPO = Path(__file__).resolve().parents[2]

# name -> (ttf file, pixel size, diacritic marks). FreeType's monochrome
# hinting flattens Vietnamese marks below ~20 px (tilde -> bar, horn lost,
# Ã looks like Á), so at those sizes each Vietnamese letter is composed here:
# the DejaVu base letter plus marks drawn for this project (MARKS below).
# At 24 px DejaVu's own marks are clear and are used as they are.
FONTS = {
    "sans10": ("DejaVuSans.ttf", 10, "small"),       # all SSD1306 text, ST7789 footers
    "sans16": ("DejaVuSans.ttf", 16, "medium"),      # ST7789 body text
    "bold24": ("DejaVuSans-Bold.ttf", 24, None),     # ST7789 big verdict text
}

# Pixel-art diacritics ('#' = ink), bottom row sits on the placement line.
MARKS = {
    "small": {
        "\u0300": ["#.", ".#"],                  # grave (huyền)
        "\u0301": [".#", "#."],                  # acute (sắc)
        "\u0303": [".#.#", "#.#."],              # tilde (ngã)
        "\u0309": ["##", ".#", "#."],            # hook above (hỏi)
        "\u0302": [".#.", "#.#"],                # circumflex
        "\u0306": ["#.#", ".#."],                # breve
        "\u0323": ["#"],                         # dot below (nặng)
    },
    "medium": {
        "\u0300": ["#..", ".#.", "..#"],
        "\u0301": ["..#", ".#.", "#.."],
        "\u0303": [".##..#", "#..##."],
        "\u0309": [".##", "..#", ".#.", ".#."],
        "\u0302": ["..#..", ".#.#.", "#...#"],
        "\u0306": ["#...#", ".###."],
        "\u0323": ["##", "##"],
    },
}

VOWELS = "aăâeêioôơuưy"
TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")  # ngang huyền sắc ngã hỏi nặng
SYMBOLS = "✓✗•°·…←→↑↓–—‘’“”×"


def vietnamese_letters() -> list[str]:
    """Every precomposed Vietnamese letter (both cases): vowels x 6 tones + đ/Đ."""
    out = []
    for base in VOWELS:
        for tone in TONES:
            ch = unicodedata.normalize("NFC", base + tone)
            if len(ch) != 1:
                raise ValueError(f"no precomposed form for {base!r}+{tone!r}")
            out += [ch, ch.upper()]
    return out + ["đ", "Đ"]


def charset() -> list[int]:
    cps = set(range(0x20, 0x7F))
    cps |= set(range(0xA1, 0x100)) - {0xAD}  # Latin-1 for foreign names; no soft hyphen
    cps |= {ord(c) for c in vietnamese_letters()}
    cps |= {ord(c) for c in SYMBOLS}
    return sorted(cps)


def rasterise(font: ImageFont.FreeTypeFont, ch: str):
    """(advance, x offset, top-from-baseline, width, rows, row bytes list)."""
    advance = int(round(font.getlength(ch)))
    mask, (ox, oy) = font.getmask2(ch, mode="1", anchor="ls")
    bbox = mask.getbbox() if mask.size[0] and mask.size[1] else None
    if not bbox:
        return advance, 0, 0, 0, 0, []
    x0, y0, x1, y1 = bbox
    w, h = x1 - x0, y1 - y0
    stride = (w + 7) // 8
    rows = []
    for y in range(y0, y1):
        row = bytearray(stride)
        for x in range(x0, x1):
            if mask.getpixel((x, y)):
                row[(x - x0) >> 3] |= 0x80 >> ((x - x0) & 7)
        rows.append(bytes(row))
    return advance, ox + x0, oy + y0, w, h, rows


def ink(font: ImageFont.FreeTypeFont, ch: str) -> tuple[int, set]:
    """(advance, {(x, y)}) with y relative to the baseline (negative = up)."""
    advance = int(round(font.getlength(ch)))
    mask, (ox, oy) = font.getmask2(ch, mode="1", anchor="ls")
    w, h = mask.size
    px = {(ox + x, oy + y) for y in range(h) for x in range(w) if mask.getpixel((x, y))}
    return advance, px


def _stamp(px: set, design: list[str], x: int, bottom: int) -> tuple[int, int]:
    """Draw a mark with its bottom-left at (x, bottom); return (top, right)."""
    top = bottom - len(design) + 1
    right = x
    for r, row in enumerate(design):
        for c, bit in enumerate(row):
            if bit == "#":
                px.add((x + c, top + r))
                right = max(right, x + c)
    return top, right


def compose(font: ImageFont.FreeTypeFont, ch: str, marks: dict):
    """A Vietnamese letter from its DejaVu base letter and our own marks."""
    parts = unicodedata.normalize("NFD", ch)
    base = "\u0131" if parts[0] == "i" else parts[0]  # dotless i under a tone
    advance, px = ink(font, base)
    x0 = min(x for x, _ in px)
    x1 = max(x for x, _ in px)
    top = min(y for _, y in px)
    bottom = max(y for _, y in px)
    upper = base.isupper()
    if "\u031b" in parts:  # horn: a stroke up and right from the top right
        if base in "oO":
            px |= {(x1, top), (x1 + 1, top - 1)}
        else:
            px |= {(x1 + 1, top - 1), (x1 + 1, top)}
            if not upper:
                px.add((x1, top))
        x1 += 1
        advance += 1
    centre = (x0 + x1 + 1) / 2
    modifier = next((m for m in parts if m in "\u0302\u0306"), None)
    tone = next((m for m in parts if m in "\u0300\u0301\u0303\u0309"), None)
    mod_right = None
    if modifier:
        d = marks[modifier]
        bottom_line = top - 1 if upper else top - 2  # capitals: no gap (height)
        top, mod_right = _stamp(px, d, int(round(centre - len(d[0]) / 2)), bottom_line)
    if tone:
        d = marks[tone]
        if modifier == "\u0302" and tone != "\u0303":
            # Vietnamese style: sắc/huyền/hỏi sit beside the circumflex
            t, _ = _stamp(px, d, mod_right, top + 1 - (len(d) - 2))
            top = min(top, t)
        else:
            _stamp(px, d, int(round(centre - len(d[0]) / 2)), top - 2)  # 1 row gap
    if "\u0323" in parts:
        d = marks["\u0323"]
        below = max(1, bottom + 1) if base not in "yY" else 1
        x = int(round(centre - len(d[0]) / 2)) if base not in "yY" else x1 + 1
        _stamp(px, d, x, below + len(d) - 1)
    right = max(x for x, _ in px)
    advance = max(advance, right + 1)
    return _pack(advance, px)


def _pack(advance: int, px: set):
    """Same tuple as rasterise() from a pixel set."""
    x0 = min(x for x, _ in px)
    x1 = max(x for x, _ in px)
    y0 = min(y for _, y in px)
    y1 = max(y for _, y in px)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    rows = []
    for y in range(y0, y1 + 1):
        row = bytearray((w + 7) // 8)
        for x in range(x0, x1 + 1):
            if (x, y) in px:
                row[(x - x0) >> 3] |= 0x80 >> ((x - x0) & 7)
        rows.append(bytes(row))
    return advance, x0, y0, w, h, rows


def build(ttf: str, size: int, marks: str | None = None) -> bytes:
    font = ImageFont.truetype(str(DEJAVU / ttf), size)
    cps = charset()
    viet = set(vietnamese_letters()) - set("đĐaeiouyAEIOUY")
    glyphs = []
    for cp in cps:
        if marks and chr(cp) in viet:
            glyphs.append(compose(font, chr(cp), MARKS[marks]))
        else:
            glyphs.append(rasterise(font, chr(cp)))
    inked = [g for g in glyphs if g[4]]
    ascent = max(-g[2] for g in inked)            # highest ink above baseline
    descent = max(g[2] + g[4] for g in inked)     # lowest ink below baseline
    height = ascent + descent
    records = bytearray()
    offsets = []
    advances = []
    max_w = max_rows = max_rec = 0
    for adv, xoff, top, w, rows_n, rows in glyphs:
        if not -128 <= xoff <= 127 or adv > 255 or w > 255:
            raise ValueError("glyph metrics out of range")
        offsets.append(len(records))
        advances.append(adv)
        rec = struct.pack("<BbBB", w, xoff, top + ascent if rows_n else 0, rows_n)
        rec += b"".join(rows)
        records += rec
        max_w, max_rows, max_rec = max(max_w, w), max(max_rows, rows_n), max(max_rec, len(rec))
    if len(records) > 0xFFFF:
        raise ValueError("record area over 64 KiB: split the font")
    ascii_base = cps.index(0x20)
    if cps[ascii_base:ascii_base + 95] != list(range(0x20, 0x7F)):
        ascii_base = 0xFFFF
    placeholder_adv = max(5, height // 2)
    head = b"GGF1" + struct.pack(
        "<BBHHBBHH", height, ascent, len(cps), ascii_base, max_w, max_rows, max_rec,
        placeholder_adv)
    index = (struct.pack(f"<{len(cps)}H", *cps) + struct.pack(f"<{len(offsets)}H", *offsets)
             + bytes(advances))
    return head + index + bytes(records)


def parse_icons(text: str) -> dict[str, bytes]:
    """icons.txt (name line + 16 rows of 16 '.'/'#') -> 32-byte bitmaps."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("# ")]
    icons = {}
    for k in range(0, len(lines), 17):
        name, rows = lines[k], lines[k + 1:k + 17]
        if len(rows) != 16 or any(len(r) != 16 or set(r) - {".", "#"} for r in rows):
            raise ValueError(f"icon {name!r}: need 16 rows of 16 '.'/'#'")
        icons[name] = b"".join(int(r.replace("#", "1").replace(".", "0"), 2).to_bytes(2, "big")
                               for r in rows)
    return icons


def icons_module(icons: dict[str, bytes]) -> str:
    out = ["# Generated by tools/fonts/gen_font.py from tools/fonts/icons.txt: do not edit.",
           "# 16x16 icons, 2 bytes per row, MSB = leftmost pixel. Bytes literals stay in",
           "# flash/ROM when this module is frozen.", "", "_NAMES = ("]
    out += [f'    "{n}",' for n in icons]
    out += [")", "_DATA = ("]
    out += [f"    {bits!r}," for bits in icons.values()]
    out += [")", "", "", "def get(name):",
            '    """32-byte bitmap of an icon (the "warn" icon for an unknown name)."""',
            "    for i, n in enumerate(_NAMES):",
            "        if n == name:",
            "            return _DATA[i]",
            '    return _DATA[_NAMES.index("warn")]', ""]
    return "\n".join(out)


def outputs() -> dict[str, bytes]:
    """Every generated file name -> its bytes."""
    files = {f"font_{name}.bin": build(*spec) for name, spec in FONTS.items()}
    icons = parse_icons((Path(__file__).parent / "icons.txt").read_text(encoding="utf-8"))
    files["icons.py"] = icons_module(icons).encode()
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "firmware" / "display")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the committed files differ from a fresh build")
    args = ap.parse_args(argv)
    status = 0
    if not args.check:
        args.out.mkdir(parents=True, exist_ok=True)
    for name, data in outputs().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                print(f"{path}: out of date", file=sys.stderr)
                status = 1
            continue
        path.write_bytes(data)
        print(f"{path.name}: {len(data)} bytes", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
