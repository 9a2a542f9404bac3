"""scripts/setup on a machine where another package manager is busy (issue 11:
it failed at once on the apt lock), and the packaging metadata it builds."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WAITING = REPO / "scripts" / "apt-get-waiting"


def private_update(tmp: Path) -> list[str]:
    """`apt-get update` on a private lists/cache directory with no sources:
    the real apt and its real lock, nothing of this machine's apt touched."""
    for d in ("lists/partial", "cache/archives/partial", "parts"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    return [str(WAITING), "-o", f"Dir::State::Lists={tmp / 'lists'}", "-o", f"Dir::Cache={tmp / 'cache'}",
            "-o", "Dir::Etc::sourcelist=/dev/null", "-o", f"Dir::Etc::sourceparts={tmp / 'parts'}",
            "-o", "APT::Get::List-Cleanup=false", "update", "-qq"]


def hold_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what apt takes (fcntl, not flock)
    return fd


@pytest.fixture
def apt(tmp_path):
    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get on this machine")
    cmd = private_update(tmp_path)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"apt-get update on a private directory does not run here: {r.stderr.strip()[-300:]}")
    return cmd, tmp_path / "lists" / "lock"


def test_waits_for_another_package_manager_then_runs(apt, tmp_path):
    cmd, lock = apt
    fd = hold_lock(lock)
    err = tmp_path / "err"
    with err.open("w") as e:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=e)
    try:
        deadline = time.monotonic() + 120
        while "waiting" not in err.read_text() and time.monotonic() < deadline:
            assert p.poll() is None, f"gave up on the lock at once: {err.read_text()}"
            time.sleep(0.1)
        assert "another package manager holds the apt lock" in err.read_text()
        assert p.poll() is None
    finally:
        os.close(fd)  # the other apt finishes
    assert p.wait(120) == 0, err.read_text()


def test_gives_up_at_its_deadline_with_apts_own_message(apt):
    cmd, lock = apt
    fd = hold_lock(lock)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "GREENGATE_APT_WAIT": "1"})
    finally:
        os.close(fd)
    assert r.returncode != 0 and "Could not get lock" in r.stderr


def test_setup_calls_apt_only_through_the_waiting_wrapper():
    setup = (REPO / "scripts" / "setup").read_text()
    calls = [line for line in setup.splitlines() if re.search(r"\bapt-get\b", line)
             and not line.lstrip().startswith("#")]
    assert calls and all("scripts/apt-get-waiting" in line for line in calls), calls


def test_pyproject_licence_is_an_spdx_expression_setuptools_understands():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"  # a table is deprecated: a warning on every setup
    (req,) = [r for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    assert int(re.search(r">=\s*(\d+)", req).group(1)) >= 77  # first setuptools reading SPDX strings
