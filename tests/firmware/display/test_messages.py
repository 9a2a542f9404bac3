"""Screen texts: Vietnamese + English for every reason code and role, drawn
without placeholders; long or odd texts never crash a screen."""
import contextlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import unicodedata

import pytest
from PIL import Image

from mpy import FIRMWARE, REPO, run_micropython

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


# -- the text table in flash (texts.bin, tools/texts/gen_texts.py) -----------------

GEN_TEXTS = REPO / "tools" / "texts" / "gen_texts.py"
TEXTS_BIN = FIRMWARE / "display" / "texts.bin"


def _gen_texts():
    spec = importlib.util.spec_from_file_location("gen_texts", GEN_TEXTS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_texts_are_current():
    """texts.bin and the id blocks in messages.py / screens.py match texts.tsv."""
    gen = _gen_texts()
    files = gen.outputs()
    assert set(files) == {TEXTS_BIN, FIRMWARE / "display" / "messages.py",
                          FIRMWARE / "display" / "screens.py"}
    for path, data in files.items():
        assert path.read_bytes() == data, f"{path.name} is stale: run python3 {GEN_TEXTS.relative_to(REPO)}"
    assert gen.outputs() == files  # deterministic
    r = subprocess.run([sys.executable, str(GEN_TEXTS), "--check"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


@pytest.mark.parametrize("tsv, error", [
    ("reason.EXPIRED\tHết hạn\n", "need key"),
    ("reason.EXPIRED\tHết hạn\tExpired\nreason.EXPIRED\tHết\tExp\n", "duplicate key"),
    ("reason.NO_SUCH_CODE\tA\tB\n", "not a code"),
    ("role.16\tA\tB\n", "role must be"),
    ("text.lower\tA\tB\n", "UPPER_CASE"),
    ("other.X\tA\tB\n", "key must be"),
    ("text.X\t\tB\n", "empty"),
    ("text.X\tA \tB\n", "space"),
    ("text.X\t" + unicodedata.normalize("NFD", "Hết") + "\tB\n", "NFC"),
    ("text.X\tA\u200bB\tB\n", "control character"),  # invisible format character
])
def test_generator_refuses_bad_source(tsv, error):
    gen = _gen_texts()
    with pytest.raises(gen.SourceError) as e:
        gen.parse(tsv, gen.reason_codes())
    if error:
        assert error in str(e.value)


def _tsv_pairs():
    gen = _gen_texts()
    pairs, names = gen.parse(gen.SOURCE.read_text(encoding="utf-8"), gen.reason_codes())
    return gen, pairs, names


READ_ALL = """
import json, sys
from display import messages as M
t = M.Texts(sys.argv[1]) if sys.argv[1] != "-" else M.Texts(open(%r, "rb").read())
print(json.dumps([t.get(i) for i in range(130)] + [t._file is not None]))
"""


@pytest.mark.parametrize("source", ["file", "bytes"])
def test_firmware_reads_every_text_of_the_source(source):
    gen, pairs, names = _tsv_pairs()
    arg = str(TEXTS_BIN) if source == "file" else "-"
    proc = run_micropython(READ_ALL % str(TEXTS_BIN), args=[arg])
    assert proc.returncode == 0, proc.stderr.decode()
    *got, has_file = json.loads(proc.stdout)
    assert has_file == (source == "file")
    for tid in range(130):
        want = list(pairs[tid]) if tid in pairs else None
        assert got[tid] == want, tid


BROKEN = {
    "missing": None,
    "empty": b"",
    "magic": b"GGF1" + TEXTS_BIN.read_bytes()[4:],
    "short_header": b"GGT1\x05",
    "truncated": TEXTS_BIN.read_bytes()[:300],
    "huge_pair": b"GGT1\x01\x00\xff\xff\x00\x00\x01\x00\x02\x00ab",
    "bad_offsets": b"GGT1\x01\x00\x04\x00\x03\x00\x01\x00\x02\x00abcd",
    "bad_utf8": b"GGT1\x01\x00\x04\x00\x00\x00\x02\x00\x04\x00\xc3(ab",
}

PROBE = """
import json, sys
from display import messages as M
out = {}
for name in sys.argv[1:]:
    t = M.use("/nonexistent/texts.bin" if name == "missing" else %r + "/" + name)
    out[name] = [M.text(80), M.text(1000), M.reason(10), M.reason(99), M.role(1), M.role(9),
                 t.missing]
M.use()
out["restored"] = [M.text(80), M.reason(10)]
print(json.dumps(out))
"""


def test_unreadable_texts_show_placeholders_never_crash(tmp_path):
    for name, data in BROKEN.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    proc = run_micropython(PROBE % str(tmp_path), args=list(BROKEN))
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    for name in BROKEN:
        accept, unknown_id, expired, unknown_code, worker, role9, missing = out[name]
        assert accept == ["[#80]", "[#80]"], name
        assert unknown_id == ["[#1000]", "[#1000]"], name
        # the generic texts are missing too: placeholder + the code, still visible
        assert expired == ["[#101] 10", "[#101] 10"], name
        assert unknown_code == ["[#101] 99", "[#101] 99"], name
        assert worker == ["[#102] 1", "[#102] 1"] and role9 == ["[#102] 9", "[#102] 9"], name
        assert missing == 6, name
    assert out["restored"] == [["MỜI VÀO", "Welcome"], ["Hết hạn", "Expired"]]


@pytest.mark.parametrize("panel", ["ssd1306", "st7789"])
def test_screens_draw_with_a_missing_text_table(display_run, tmp_path, panel):
    reqs = [{"op": "use_texts", "source": str(tmp_path / "nope.bin")}]
    for method, args in (("idle", ["Cổng 1", "10:42", True, 1, 2, 3]), ("accept", [1, "AB", 1990]),
                         ("deny", [10]), ("deny", [99]), ("out_of_sync", []), ("suspended", []),
                         ("full", []), ("setup", ["gg-1"]), ("error", ["x"]), ("message", ["m", 5])):
        reqs.append({"op": "screen", "panel": panel, "method": method, "args": args,
                     "png": str(tmp_path / f"{method}.png")})
    reqs.append({"op": "use_texts", "source": None})
    reqs.append({"op": "screen", "panel": panel, "method": "deny", "args": [10]})
    answers = display_run(reqs)
    for q, a in zip(reqs[1:-2], answers[1:-2]):
        assert a["texts_missing"] >= 1, q        # placeholders were shown ...
        assert a["missing"] == 0, q              # ... in characters the font has
        with Image.open(q["png"]) as im:
            im.load()
    assert answers[-1]["texts_missing"] == 0     # the shipped table is back


ROMFS = """
import json, vfs, framebuf
vfs.mount(vfs.VfsRom(open(%r, "rb").read()), "/rom")
from display import messages as M
from display.font import Font
t = M.Texts("/rom/texts.bin")
texts = [t.get(i) for i in range(130)]
out = {"texts": texts, "texts_in_place": t._file is None and t._buf is None}
draws = []
for path in ("/rom/font_sans10.bin", %r):
    f = Font(path)
    c = framebuf.FrameBuffer(bytearray(64 * 16 // 8), 64, 16, framebuf.MONO_HLSB)
    pal = framebuf.FrameBuffer(bytearray(1), 2, 1, framebuf.MONO_HLSB)
    pal.pixel(1, 0, 1)
    x = 0
    for ch in "Ấy Ưỡ Đg✓":
        x += f.draw(c, ord(ch), x, 0, pal, 0)
    draws.append([bytes(c).hex(), f._file is None])
out["fonts"] = draws
print(json.dumps(out))
"""


def test_texts_and_fonts_are_read_in_place_from_romfs(tmp_path):
    romfs = pytest.importorskip("mpremote.romfs")
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("texts.bin", "font_sans10.bin"):
        (tree / name).write_bytes((FIRMWARE / "display" / name).read_bytes())
    with contextlib.redirect_stdout(io.StringIO()):
        image = romfs.make_romfs(str(tree), mpy_cross=False)
    (tmp_path / "fw.romfs").write_bytes(image)
    proc = run_micropython(ROMFS % (str(tmp_path / "fw.romfs"),
                                    str(FIRMWARE / "display" / "font_sans10.bin")))
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    _, pairs, _ = _tsv_pairs()
    assert out["texts"] == [list(pairs[i]) if i in pairs else None for i in range(130)]
    assert out["texts_in_place"]
    (rom_bits, rom_in_place), (file_bits, file_in_place) = out["fonts"]
    assert rom_bits == file_bits and set(rom_bits) != {"0"}
    assert rom_in_place and not file_in_place
