"""Run the real firmware under the MicroPython unix port as a simulated gate.

Layout of the simulator directory (DIR):
  flash/            the device's flash (config.json, outbox, control state)
  flash/inputs/     input pins (exit_button: "0" pressed, "1" released)
  events.jsonl      what the firmware did: pins, tones, screens, decisions
  display.png       the display's last picture
  sim.sock          the running simulator's control socket (JSON lines)

The firmware's USB console is a pty too (`console_path`, printed by
`greengate sim`): the provisioning tool talks to the SETUP service there.

The scanner is a pty: the firmware opens its slave as the UART and
`FakeGM65` plays the module on the master (answers set-up frames at the
module's baud rate, "reads" codes by typing them at that rate).
"""

from __future__ import annotations

import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from greengate.paths import FIRMWARE, ToolNotFound, tool
from greengate.sim.gm65 import FakeGM65

SOCKET = "sim.sock"


class SimError(Exception):
    """A simulator failure with a message for the user."""


@dataclass
class SimPaths:
    root: Path
    flash: Path = field(init=False)
    inputs: Path = field(init=False)
    events: Path = field(init=False)
    display: Path = field(init=False)
    socket: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.flash = self.root / "flash"
        self.inputs = self.flash / "inputs"
        self.events = self.root / "events.jsonl"
        self.display = self.root / "display.png"
        self.socket = self.root / SOCKET


def write_config(paths: SimPaths, device_id: str | None, broker: str | None) -> dict:
    """Create or update flash/config.json with the given device id / broker."""
    paths.flash.mkdir(parents=True, exist_ok=True)
    cfg_path = paths.flash / "config.json"
    cfg: dict = {}
    if cfg_path.exists():
        try:
            cfg = json.loads(cfg_path.read_text())
        except ValueError as e:
            raise SimError(f"{cfg_path} is not valid JSON: {e}") from e
    if device_id:
        cfg["device_id"] = device_id
    cfg.setdefault("device_id", "gg-sim-1")
    if broker:
        cfg.setdefault("broker", {})["url"] = broker
    cfg_path.write_text(json.dumps(cfg, indent=1))
    return cfg


def micropython_binary() -> str:
    try:
        return tool("micropython")
    except ToolNotFound as e:
        raise SimError(str(e)) from e


class SimTerminal:
    """One simulated terminal: firmware process + fake scanner + control socket."""

    def __init__(self, root: Path, device_id: str | None = None, broker: str | None = None,
                 module_baud: int = 9600, module_responsive: bool = True, heap: str = "4m"):
        self.paths = SimPaths(root)
        self.device_id = device_id
        self.broker = broker
        self.module_baud = module_baud
        self.module_responsive = module_responsive
        self.heap = heap
        self.proc: subprocess.Popen | None = None
        self.fake: FakeGM65 | None = None
        self._master = self._slave = -1
        self._console: list[int] = []  # firmware pty pair + tool pty pair
        self.console_path: str | None = None  # for the provisioning tool
        self._server: socket.socket | None = None
        self._stop = threading.Event()
        self._stdout = self._stderr = None
        self.reboots = 0
        self._respawn = threading.Lock()  # poll() runs in the watcher and in callers

    # -- lifecycle -----------------------------------------------------------
    def start(self, stdout=None, stderr=None) -> "SimTerminal":
        p = self.paths
        write_config(p, self.device_id, self.broker)
        p.inputs.mkdir(parents=True, exist_ok=True)
        (p.inputs / "exit_button").write_text("1")
        p.events.write_text("")
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        self.fake = FakeGM65(self._master, baud=self.module_baud,
                             responsive=self.module_responsive).start()
        self._open_console()
        self._stdout, self._stderr = stdout, stderr
        self._spawn()
        self._serve()
        threading.Thread(target=self._watch, name="sim-reboot", daemon=True).start()
        return self

    def _spawn(self) -> None:
        p = self.paths
        env = dict(os.environ)
        env.update(
            MICROPYPATH=f"{FIRMWARE}:.frozen",
            GG_FLASH_DIR=str(p.flash),
            GG_SCANNER_PTY=os.ttyname(self._slave),
            GG_CONSOLE_PTY=os.ttyname(self._console[1]),
            GG_EVENT_FILE=str(p.events),
            GG_INPUT_DIR=str(p.inputs),
            GG_DISPLAY_DUMP=str(p.display),
        )
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", f"heapsize={self.heap}", str(FIRMWARE / "main.py")],
            env=env, cwd=str(p.root), stdout=self._stdout, stderr=self._stderr,
        )

    def poll(self) -> int | None:
        """None while the firmware runs. A reset (exit status 3: hal.unix
        Port.reset, e.g. after the reboot command) boots it again, like the
        device would."""
        with self._respawn:
            if self.proc is None:
                return None
            rc = self.proc.poll()
            if rc == 3 and not self._stop.is_set():
                self.reboots += 1
                self._spawn()
                return None
            return rc

    def _watch(self) -> None:
        # a device comes back by itself after a reset: nobody needs to ask
        while not self._stop.wait(0.2):
            self.poll()

    def _open_console(self) -> None:
        # the firmware's console pty and the one a provisioning tool opens,
        # bridged (a pty master has no path the tool could open)
        fw_master, fw_slave = pty.openpty()
        tool_master, tool_slave = pty.openpty()
        for fd in (fw_slave, tool_slave):
            tty.setraw(fd)
        self._console = [fw_master, fw_slave, tool_master, tool_slave]
        self.console_path = os.ttyname(tool_slave)
        threading.Thread(target=self._bridge, args=(fw_master, tool_master),
                         name="sim-console", daemon=True).start()

    def _bridge(self, a: int, b: int) -> None:
        import select

        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for fd in ready:
                    data = os.read(fd, 1024)
                    os.write(b if fd == a else a, data)
            except OSError:
                time.sleep(0.1)  # one side not open yet / any more

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
            try:
                self.paths.socket.unlink()
            except FileNotFoundError:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.fake is not None:
            self.fake.stop()
        for fd in [self._master, self._slave] + self._console:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1
        self._console = []

    def __enter__(self) -> "SimTerminal":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the firmware did ---------------------------------------------
    def events(self) -> list[dict]:
        try:
            data = self.paths.events.read_bytes()
        except FileNotFoundError:
            return []
        # The firmware may be writing its next line right now: only whole
        # (newline-terminated) lines count, decoded after the cut so a
        # half-written UTF-8 letter is never decoded; the rest comes next time.
        whole = data[: data.rfind(b"\n") + 1].decode()
        return [json.loads(line) for line in whole.splitlines() if line.strip()]

    def wait_for(self, predicate, timeout: float = 20.0, after: int = 0) -> dict:
        """First event (index >= after) matching predicate; SimError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evs = self.events()
            for ev in evs[after:]:
                if predicate(ev):
                    return ev
            if self.poll() is not None:
                raise SimError(f"firmware exited with status {self.proc.returncode}")
            time.sleep(0.05)
        raise SimError("timed out waiting for the firmware")

    # -- inputs --------------------------------------------------------------
    def scan(self, text: str) -> None:
        if self.fake is None:
            raise SimError("simulator not running")
        self.fake.scan(text)

    def press(self, name: str = "exit_button", hold_s: float = 0.2) -> None:
        pin = self.paths.inputs / name
        pin.write_text("0")
        time.sleep(hold_s)
        pin.write_text("1")

    # -- control socket --------------------------------------------------------
    def _serve(self) -> None:
        path = self.paths.socket
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        srv.listen(4)
        self._server = srv
        threading.Thread(target=self._accept, name="sim-socket", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                try:
                    line = conn.makefile("r").readline()
                    reply = self.handle(json.loads(line))
                except (ValueError, SimError) as e:
                    reply = {"ok": False, "error": str(e)}
                conn.sendall((json.dumps(reply) + "\n").encode())

    def handle(self, req: dict) -> dict:
        cmd = req.get("cmd")
        if cmd == "scan":
            text = req.get("text")
            if not isinstance(text, str) or not text:
                raise SimError("scan: no text")
            self.scan(text)
            return {"ok": True}
        if cmd == "press":
            self.press(req.get("name", "exit_button"))
            return {"ok": True}
        if cmd == "status":
            return {"ok": True, "running": self.proc is not None and self.proc.poll() is None,
                    "module_baud": self.fake.baud if self.fake else None,
                    "console": self.console_path, "reboots": self.reboots}
        raise SimError(f"unknown command {cmd!r}")


def send(root: Path, request: dict, timeout: float = 30.0) -> dict:
    """Send one request to a running simulator in `root`."""
    path = SimPaths(root).socket
    if not path.exists():
        raise SimError(f"no simulator running in {root} (no {path.name})")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except OSError as e:
            raise SimError(f"simulator in {root} does not answer: {e}") from e
        s.sendall((json.dumps(request) + "\n").encode())
        reply = json.loads(s.makefile("r").readline() or "{}")
    if not reply.get("ok"):
        raise SimError(reply.get("error", "simulator refused the request"))
    return reply


def read_qr(image: Path) -> list[str]:
    """Texts of the QR codes in an image (zxing-cpp)."""
    import zxingcpp
    from PIL import Image

    try:
        img = Image.open(image)
    except (OSError, ValueError) as e:
        raise SimError(f"cannot open image {image}: {e}") from e
    results = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    texts = [r.text for r in results if r.text]
    if not texts:
        raise SimError(f"no QR code found in {image}")
    return texts


def print_event(ev: dict, out=sys.stderr) -> None:
    kind = ev.get("kind")
    if kind == "decision":
        verdict = "ADMIT" if ev.get("verdict") else "DENY"
        out.write(f"decision: {verdict} {ev.get('reason')} pass={ev.get('pass')}\n")
    elif kind == "screen":
        out.write(f"screen: {ev.get('screen')}\n")
    elif kind == "pin" and ev.get("name") == "relay":
        out.write(f"relay: {'open' if ev.get('value') else 'closed'}\n")
    elif kind in ("scanner", "net", "watchdog"):
        rest = {k: v for k, v in ev.items() if k not in ("t", "ms", "kind")}
        out.write(f"{kind}: {rest}\n")
    out.flush()
