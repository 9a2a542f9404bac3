"""Every firmware file compiles for the ESP32 (Xtensa, windowed ABI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mpy import FIRMWARE, MPY_CROSS

SOURCES = sorted(FIRMWARE.rglob("*.py"))


def test_firmware_tree_is_not_empty():
    names = {p.relative_to(FIRMWARE).as_posix() for p in SOURCES}
    assert {"main.py", "errors.py", "hal/__init__.py", "scanner/gm65.py"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.relative_to(FIRMWARE).as_posix())
def test_compiles_with_mpy_cross_xtensawin(source: Path, tmp_path: Path):
    out = tmp_path / (source.stem + ".mpy")
    res = subprocess.run(
        [MPY_CROSS, "-march=xtensawin", str(source), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 0
