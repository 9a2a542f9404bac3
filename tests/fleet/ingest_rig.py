"""Pieces of the production ingest path for tests: mosquitto from the
project's generated configuration (restartable on the same port and data
directory), a bridge worker as its own process, and a PRIVATE PostgreSQL
cluster a test may stop and start (never the shared one)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from brokers import Mosquitto, free_port, wait_port
from fleet.broker_bridge import mosquitto_conf as mc
from mosquitto_helpers import BRIDGE_PW, bridge_params, start_generated  # noqa: F401 (re-exported)

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def bridge_url(port: int, user: str = mc.BRIDGE_USER) -> str:
    return f"mqtt://{user}:{BRIDGE_PW}@127.0.0.1:{port}"


def kill_broker(m: Mosquitto) -> None:
    """kill -9: no goodbye to anyone, no last save of its state."""
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    m.proc = None


def bridge_process(db_url: str, port: int, log, *, wait_ready: bool = True, batch_max: int = 500,
                   user: str = mc.BRIDGE_USER):  # noqa: ANN001
    """`python -m fleet.broker_bridge` (ingest only) with the bridge's fleet account."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(p) for p in sys.path if p])}
    p = subprocess.Popen([sys.executable, "-m", "fleet.broker_bridge", "--db", db_url,
                          "--broker", bridge_url(port, user), "--no-publish", "--batch-max", str(batch_max)],
                         stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    if wait_ready:
        assert p.stdout.readline().strip() == "ready"
    return p


class PrivatePostgres:
    """initdb into a temporary directory and pg_ctl on a free port, as the
    postgres user (tests run as root): a cluster this test may stop."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gg-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def init(self) -> "PrivatePostgres":
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
                  str(self.root / "pg.log"), "-w", "-t", "60", "start")
        wait_port(self.port, 30)

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
