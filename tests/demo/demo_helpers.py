"""Running `greengate demo` as a newcomer does, for the demo tests: a
subprocess in its own session (like a shell job), its output in files, its
processes found in /proc, its API polled until a deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from greengate import cli as root_cli

PASSWORD = "demo-password-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_command() -> list[str]:
    if any(name == "demo" for name, *_ in root_cli._AREAS):  # mounted in `greengate`
        return [sys.executable, "-c", "from greengate.cli import main; main()", "demo"]
    return [sys.executable, "-m", "greengate.demo"]


def session_processes(sid: int) -> list[str]:
    """Live (non-zombie) processes of a session, from /proc/*/stat."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(session) == sid and state != "Z":
            out.append(f"{entry} {name}")
    return out


class Demo:
    """`command` (default: this interpreter's `greengate demo`) with `--port`,
    `--dir tmp/demo` (keep_dir=False: the demo's own temporary directory) and
    `args`; `env` and `cwd` as a user's shell would have them."""

    def __init__(self, tmp: Path, *args: str, command: list[str] | None = None,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 keep_dir: bool = True) -> None:
        self.port = free_port()
        self.out, self.err = tmp / "demo.out", tmp / "demo.err"
        env = dict(os.environ if env is None else env, GREENGATE_DEMO_PASSWORD=PASSWORD)
        self.proc = subprocess.Popen(
            (command or demo_command()) + ["--port", str(self.port)]
            + (["--dir", str(tmp / "demo")] if keep_dir else []) + list(args),
            stdout=self.out.open("wb"), stderr=self.err.open("wb"), env=env, cwd=cwd,
            start_new_session=True)
        self.sid = self.proc.pid
        self.url = f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_banner(self, timeout: float = 150) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ctrl-C" in self.stdout():
                return self.stdout()
            assert self.proc.poll() is None, f"demo exited early:\n{self.stderr()[-3000:]}"
            time.sleep(0.5)
        raise AssertionError(f"no banner in {timeout} s:\n{self.stderr()[-3000:]}")

    def stop(self, sig: int, group: bool) -> int:
        if group:
            os.killpg(self.sid, sig)
        else:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(60)
        finally:
            if self.proc.poll() is None:  # never leave it behind, even on failure
                os.killpg(self.sid, signal.SIGKILL)
                self.proc.wait()

    def kill(self) -> None:
        # whatever is left of the session, even after a failed assertion
        try:
            os.killpg(self.sid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def wait_until(fn, timeout: float, step: float = 0.5, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out: {what}")


def login(url: str) -> httpx.Client:
    c = httpx.Client(base_url=url + "/api/v1", timeout=20)
    token = c.post("/login", json={"username": "operator", "password": PASSWORD}).json()["token"]
    c.cookies.clear()
    c.headers["Authorization"] = f"Bearer {token}"
    return c
