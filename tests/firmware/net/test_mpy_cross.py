"""Every firmware file of the outbox / MQTT / reporter services compiles for
the ESP32 (Xtensa windowed ABI)."""

from __future__ import annotations

import subprocess

import pytest

from mpy import FIRMWARE, MPY_CROSS

FILES = sorted([FIRMWARE / "store" / "outbox.py", *(FIRMWARE / "net").glob("*.py")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_for_xtensawin(path, tmp_path):
    out = tmp_path / "x.mpy"
    r = subprocess.run([MPY_CROSS, "-march=xtensawin", str(path), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0
