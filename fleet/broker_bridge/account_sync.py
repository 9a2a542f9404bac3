"""Keep a running mosquitto's password file equal to the fleet's devices.

A device registered by the provisioning tool must be able to connect at
once, with its own credentials, without an operator regenerating broker
files. When `GREENGATE_MOSQUITTO_PASSWD_FILE` and `..._PID_FILE` are set,
`greengate fleet serve` runs this: every `interval` seconds it renders the
device accounts (retired devices drop out), and only when that differs from
the file it writes a temp file, renames it over the old one and sends
mosquitto SIGHUP, which makes mosquitto 2 re-read its password file. The
bridge's own line is kept as it is in the file (the service never learns
the bridge password's hash otherwise).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from fleet.broker_bridge import mosquitto_conf as mc


class MosquittoAccountSync:
    def __init__(self, sessions, passwd_file: Path, pid_file: Path, interval: float = 2.0) -> None:  # noqa: ANN001
        self.sessions = sessions
        self.passwd_file = Path(passwd_file)
        self.pid_file = Path(pid_file)
        self.interval = interval
        self.reloads = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _bridge_hash(self, current: str) -> str:
        for line in current.splitlines():
            if line.startswith(mc.BRIDGE_USER + ":"):
                return line.split(":", 1)[1]
        raise ValueError(f"{self.passwd_file} has no {mc.BRIDGE_USER} line: generate it with "
                         "`greengate fleet broker-config` first")

    def sync_once(self) -> bool:
        """Rewrite the file and reload mosquitto if the accounts changed."""
        current = self.passwd_file.read_text()
        with self.sessions() as db:
            wanted = mc.render_passwd(mc.device_accounts(db), self._bridge_hash(current))
        if wanted == current:
            return False
        tmp = self.passwd_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(wanted)
        os.replace(tmp, self.passwd_file)
        os.kill(int(self.pid_file.read_text().split()[0]), signal.SIGHUP)
        self.reloads += 1
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync_once()
                self.last_error = None
            except (OSError, ValueError) as e:  # keep trying; the log says why
                self.last_error = f"{type(e).__name__}: {e}"

    def start(self) -> "MosquittoAccountSync":
        self.sync_once()  # fail loudly at start-up if the files are wrong
        self._thread = threading.Thread(target=self._loop, name="mosquitto-accounts", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
