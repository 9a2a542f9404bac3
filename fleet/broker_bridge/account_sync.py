"""Keep a running mosquitto's accounts equal to the fleet's devices.

A device registered by the provisioning tool must be able to connect at
once, with its own credentials, without an operator regenerating broker
files. When `GREENGATE_MOSQUITTO_PASSWD_FILE` and `..._PID_FILE` are set,
`greengate fleet serve` runs this: every `interval` seconds it renders the
device accounts (retired devices drop out) and, when they changed:

1. tells the dynamic-security plugin over `$CONTROL` (as `fleet-accounts`)
   to add each new device's client (client id bound to its username) and
   role (its own topics), and to delete retired ones (the plugin then also
   disconnects them). No secret travels: the plugin's accounts have no
   password. This comes first, so a new device is never authenticated
   before its identity and rights exist.
2. writes the password file (temp file + rename) and sends mosquitto
   SIGHUP, which makes mosquitto 2 re-read it. The fleet's own `fleet-*`
   lines are kept as they are in the file (the service never learns the
   bridge password's hash otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from pathlib import Path

from fleet.broker_bridge import mosquitto_conf as mc
from fleet.core import errors


class DynsecControl:
    """One request/response exchange with the dynamic-security plugin."""

    def __init__(self, params, timeout: float = 10.0) -> None:  # noqa: ANN001 (BrokerParams)
        self.params, self.timeout = params, timeout

    def run(self, commands: list[dict]) -> list[dict]:
        from .bridge import make_client

        done, got = threading.Event(), {}
        c = make_client(self.params, mc.ACCOUNTS_USER, clean_session=True)
        correlation = uuid.uuid4().hex
        for cmd in commands:
            cmd["correlationData"] = correlation

        def on_connect(client, _u, _f, rc, _p):  # noqa: ANN001
            if rc.is_failure:
                got["error"] = f"connect refused: {rc}"
                done.set()
                return
            client.subscribe(mc.DYNSEC_TOPIC + "/response", 1)

        def on_subscribe(client, _u, _mid, _rcs, _p):  # noqa: ANN001
            client.publish(mc.DYNSEC_TOPIC, json.dumps({"commands": commands}), qos=1)

        def on_message(_c, _u, msg):  # noqa: ANN001
            try:
                answers = json.loads(msg.payload)["responses"]
            except (ValueError, KeyError, TypeError):
                return
            if any(a.get("correlationData") == correlation for a in answers):
                got["responses"] = answers
                done.set()

        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        try:
            c.connect(self.params.host, self.params.port)
            c.loop_start()
            if not done.wait(self.timeout):
                raise errors.BrokerError("dynamic-security plugin did not answer")
        except OSError as e:
            raise errors.BrokerError(f"broker unreachable: {e}") from e
        finally:
            c.disconnect()
            c.loop_stop()
        if "error" in got:
            raise errors.BrokerError(got["error"])
        return got["responses"]

    def device_clients(self) -> set[str]:
        (answer,) = self.run([{"command": "listClients", "verbose": False, "count": -1}])
        return {u for u in answer.get("data", {}).get("clients", [])
                if mc.DEVICE_USERNAME.match(u)}

    def apply(self, add: set[str], remove: set[str]) -> None:
        cmds: list[dict] = []
        for u in sorted(remove):
            cmds += [{"command": "deleteClient", "username": u},
                     {"command": "deleteRole", "rolename": u}]
        for u in sorted(add):
            cmds += [{"command": "createRole", **mc.device_role(u)},
                     {"command": "createClient", **mc.device_client(u)}]
        if not cmds:
            return
        failed = [a for a in self.run(cmds) if a.get("error") and not _harmless(a)]
        if failed:
            raise errors.BrokerError(f"dynamic-security refused: {failed[0]}")


def _harmless(answer: dict) -> bool:
    # a role left behind by an earlier, interrupted sync; one already gone
    err = str(answer.get("error", "")).lower()
    return (answer.get("command") == "createRole" and "exists" in err) or \
        (answer.get("command") == "deleteRole" and "not found" in err)


class MosquittoAccountSync:
    def __init__(self, sessions, passwd_file: Path, pid_file: Path, interval: float = 2.0,  # noqa: ANN001
                 control: DynsecControl | None = None) -> None:
        self.sessions = sessions
        self.passwd_file = Path(passwd_file)
        self.pid_file = Path(pid_file)
        self.interval = interval
        self.control = control
        self.reloads = 0
        self.last_error: str | None = None
        self._dynsec: set[str] | None = None  # device clients the plugin has
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _fleet_lines(self, current: str) -> dict[str, str]:
        lines = dict(ln.split(":", 1) for ln in current.splitlines()
                     if mc.is_fleet_user(ln) and ":" in ln)
        if not any(u != mc.ACCOUNTS_USER for u in lines):
            raise ValueError(f"{self.passwd_file} has no fleet-bridge-N line: generate it with "
                             "`greengate fleet broker-config` first")
        return lines

    def _sync_dynsec(self, wanted: set[str]) -> None:
        if self.control is None:
            return
        if self._dynsec is None:
            self._dynsec = self.control.device_clients()
        if wanted != self._dynsec:
            self.control.apply(wanted - self._dynsec, self._dynsec - wanted)
            self._dynsec = set(wanted)

    def sync_once(self) -> bool:
        """Update the plugin's devices and the password file; reload mosquitto
        if the password file changed."""
        current = self.passwd_file.read_text()
        with self.sessions() as db:
            accounts = mc.device_accounts(db)
        self._sync_dynsec({a.username for a in accounts})
        wanted = mc.render_passwd(accounts, self._fleet_lines(current))
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
            except (OSError, ValueError, errors.BrokerError) as e:  # keep trying; the log says why
                self._dynsec = None  # ask the plugin again next time
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
