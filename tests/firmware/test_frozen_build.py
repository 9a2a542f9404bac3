"""The ESP32 freeze manifest (tools/esp32/manifest.py) and its frozen data
module (tools/esp32/gen_data.py).

A plain ESP32 (no PSRAM) runs the firmware frozen into its MicroPython build
(docs/memory.md). The manifest is executed here the way MicroPython's
tools/manifestfile.py executes it (working directory = the manifest's own,
the manifest functions in its globals) with recording stand-ins for
include/package/module: the build itself needs ESP-IDF, which this machine
does not have. What is checked: every firmware module the ESP32 can import
is frozen, the unix port's own modules are not, every listed file exists;
and the generated gg_data module makes the display read the same fonts and
texts as from the files (drawn under the real MicroPython)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mpy import FIRMWARE, MPY_CROSS, REPO, run_micropython

TOOLS = REPO / "tools" / "esp32"


def run_manifest(tmp_path: Path) -> tuple[list, set[str], Path]:
    """Execute the manifest in a copy of tools/esp32 beside a link to
    firmware/ (so nothing is written into the repo). Returns (includes,
    frozen target paths, the build dir it wrote gg_data.py to)."""
    tools = tmp_path / "tools" / "esp32"
    tools.mkdir(parents=True)
    for name in ("manifest.py", "gen_data.py"):
        shutil.copy(TOOLS / name, tools / name)
    (tmp_path / "firmware").symlink_to(FIRMWARE)
    includes, frozen = [], set()

    def package(path, files=None, base_path=".", opt=None):
        base = (tools / base_path / path).resolve()
        assert files, "list the files: a bare package() would freeze unix-only modules too"
        for f in files:
            assert (base / f).is_file(), f"{path}/{f} listed but missing"
            frozen.add(f"{path}/{f}")

    def module(path, base_path=".", opt=None):
        assert (tools / base_path / path).resolve().is_file(), f"{path} missing"
        frozen.add(path)

    import os

    cwd = os.getcwd()
    os.chdir(tools)  # as manifestfile.py does
    try:
        exec((tools / "manifest.py").read_text(),
             {"include": includes.append, "package": package, "module": module})
    finally:
        os.chdir(cwd)
        import sys

        sys.modules.pop("gen_data", None)
        while str(".") in sys.path:
            sys.path.remove(".")
    return includes, frozen, tools / "build"


def test_manifest_freezes_every_device_module(tmp_path):
    includes, frozen, _ = run_manifest(tmp_path)
    assert includes == ["$(PORT_DIR)/boards/manifest.py"]  # keeps the board's asyncio etc.
    every = {p.relative_to(FIRMWARE).as_posix() for p in FIRMWARE.rglob("*.py")
             if "__pycache__" not in p.parts}
    unix_only = {"hal/unix.py", "display/filedisp.py", "otasim.py"}
    # main.py stays on the board's filesystem (MicroPython runs it by name)
    assert frozen - {"gg_data.py"} == every - unix_only - {"main.py"}
    assert not frozen & unix_only


def test_unix_only_modules_are_not_imported_on_the_device_path():
    # what the manifest leaves out must not be needed on an ESP32
    for path in FIRMWARE.rglob("*.py"):
        if path.name in ("unix.py", "filedisp.py") or "__pycache__" in path.parts:
            continue
        text = path.read_text()
        for line in text.splitlines():
            s = line.strip()
            if s.startswith(("import hal.unix", "from hal.unix", "from hal import unix")):
                assert "is_esp32" in text or path.name == "__init__.py", path
            if "filedisp" in s and s.startswith(("import", "from")):
                assert '"dump" in bus' in text, path  # only for the unix port's file panels
            if s == "import otasim":  # the simulated bootloader: unix port only
                assert 'sys.platform == "esp32"' in text or 'sys.platform != "esp32"' in text, path


def test_gg_data_holds_the_display_files(tmp_path):
    _, _, build = run_manifest(tmp_path)
    data = (build / "gg_data.py").read_text()
    names = {}
    exec(data, names)
    for path in list((FIRMWARE / "display").glob("font_*.bin")) + [FIRMWARE / "display" / "texts.bin"]:
        assert names[path.name.replace(".", "_")] == path.read_bytes()
    # it compiles for the device (bytes constants: frozen into flash)
    r = subprocess.run([MPY_CROSS, "-march=xtensawin", "-o", str(tmp_path / "gg_data.mpy"),
                        str(build / "gg_data.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


DRAW = """
import sys, framebuf
from display import resource
from display.canvas import Canvas
from display import messages
c = Canvas(128, 64, framebuf.MONO_VLSB)
src = resource("font_sans16.bin")
print("SOURCE", "bytes" if not isinstance(src, str) else "file")
vi, en = messages.text(1)
c.text(vi, 0, 0, c.font("sans16"))
c.text(en, 0, 20, c.font("sans10"))
c.text("Nguyễn Ðức Ắ", 0, 36, c.font("bold24"))
print("FRAME", bytes(c.buffer).hex())
print("TEXT", vi.encode().hex(), en.encode().hex())
"""


def _draw(extra):
    r = run_micropython(DRAW, extra_path=extra)
    assert r.returncode == 0, r.stderr.decode()
    out = dict(ln.split(" ", 1) for ln in r.stdout.decode().splitlines())
    return out


@pytest.mark.parametrize("missing", [False, True])
def test_display_reads_frozen_data_like_the_files(tmp_path, missing):
    _, _, build = run_manifest(tmp_path)
    from_files = _draw([])
    assert from_files["SOURCE"] == "file"
    if missing:
        # a gg_data without one font: that font falls back to its file
        text = "\n".join(ln for ln in (build / "gg_data.py").read_text().splitlines()
                         if not ln.startswith("font_sans16_bin"))
        (build / "gg_data.py").write_text(text + "\n")
    frozen = _draw([build])
    assert frozen["SOURCE"] == ("file" if missing else "bytes")
    assert frozen["FRAME"] == from_files["FRAME"]
    assert frozen["TEXT"] == from_files["TEXT"]
    assert set(from_files["FRAME"]) != {"0"}  # something was drawn
