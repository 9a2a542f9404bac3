"""Start real MQTT brokers for tests: Debian's mosquitto (and, in fleet tests,
amqtt in-process). Each broker gets its own port and directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with socket.create_connection((host, port), timeout=0.2):
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class Mosquitto:
    port: int
    conf: Path
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> "Mosquitto":
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def mosquitto(workdir: Path, extra_conf: str = "", port: int | None = None) -> Mosquitto:
    """A configured (not yet started) mosquitto on loopback.

    Default config: anonymous access, no persistence, generous queues so QoS 1
    bursts are not dropped. `extra_conf` is appended verbatim (listener
    options for TLS, password_file, acl_file, ...)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = workdir / "mosquitto.conf"
    log = workdir / "mosquitto.log"
    # as root, mosquitto drops to the 'mosquitto' user, which can't read
    # pytest's private tmp dirs (certificates, password and ACL files)
    run_as = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        run_as
        + "per_listener_settings false\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "max_queued_messages 100000\n"
        "max_inflight_messages 100\n"
        "log_dest stdout\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        + extra_conf
    )
    return Mosquitto(port=port, conf=conf, log=log)
