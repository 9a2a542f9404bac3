"""Every decoding-layer file compiles for the ESP32 (xtensawin, viper included)."""
import subprocess

import pytest

from mpy import FIRMWARE, MPY_CROSS

OWNED = ["codec/base45.py", "codec/cbor.py", "codec/inflate.py", "verify/cose.py", "verify/qr.py"]


@pytest.mark.parametrize("rel", OWNED)
def test_mpy_cross_xtensawin(rel, tmp_path):
    out = tmp_path / "x.mpy"
    proc = subprocess.run([MPY_CROSS, "-march=xtensawin", str(FIRMWARE / rel), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0
