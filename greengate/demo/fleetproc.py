"""The fleet service as a child process (`python -m fleet.cli serve`), on
embedded defaults (SQLite in the demo's data dir, amqtt in-process, the
dashboard), with demo secrets passed through the environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


class FleetStartError(Exception):
    """The fleet service did not come up; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class FleetProcess:
    def __init__(self, data_dir: Path, port: int, broker_port: int, admin_password: str,
                 host: str = "127.0.0.1", log: Path | None = None) -> None:
        self.data_dir, self.port, self.broker_port = Path(data_dir), port, broker_port
        self.host, self.admin_password = host, admin_password
        self.log = log or self.data_dir / "fleet.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict:
        env = dict(os.environ)
        for k in ("GREENGATE_DATABASE_URL", "GREENGATE_BROKER_URL"):  # embedded defaults only
            env.pop(k, None)
        env.update(GREENGATE_DEMO="1", GREENGATE_DATA_DIR=str(self.data_dir),
                   GREENGATE_SECRET_KEY=_secret(self.data_dir),
                   GREENGATE_ADMIN_PASSWORD=self.admin_password,
                   GREENGATE_BROKER_PORT=str(self.broker_port),
                   GREENGATE_BRIDGE_CLIENT_ID=f"fleet-bridge-demo-{os.getpid()}")
        return env

    def start(self, timeout: float = 60.0) -> "FleetProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        # same process group as the demo: a Ctrl-C in the terminal reaches it too,
        # and the demo's own clean-up terminates it in any case
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleet.cli", "serve", "--host", self.host, "--port", str(self.port),
             "--broker-port", str(self.broker_port)],
            env=self.env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise FleetStartError(f"fleet service exited ({self.proc.returncode}); see {self.log}:\n"
                                      + _tail(self.log))
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise FleetStartError(f"fleet service did not answer on {self.url} within {timeout:.0f} s; "
                              f"see {self.log}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown, then bridge/broker
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _secret(data_dir: Path) -> str:
    """One random secret key per demo data dir (challenges and sessions survive a restart)."""
    import secrets

    path = data_dir / "demo-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
