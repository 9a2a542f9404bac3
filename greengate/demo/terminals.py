"""The demo's gate terminals: `greengate.sim.SimTerminal` (the real firmware
under the MicroPython unix port, scanner on a pty) provisioned by the real
technician's path: `provisioning.flow.provision` over the terminal's USB
console pty, opened with pyserial exactly like /dev/ttyUSB0, with a
short-lived technician token an operator asked the fleet for."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from greengate.demo.fleet_api import FleetApi
from greengate.demo.seed import Gate
from greengate.paths import FIRMWARE
from greengate.sim.terminal import SimTerminal

WIFI = ("GreenGate-Q7", "demo-wifi-pass")  # what a technician types; the simulator ignores it


class DemoTerminal:
    def __init__(self, root: Path, gate: Gate, number: int) -> None:
        self.root, self.gate, self.number = Path(root), gate, number
        # a blank board: no device id until provisioning derives it from the chip id
        self.sim = SimTerminal(self.root, device_id=None)
        self.device_id: str | None = None
        self.summary: dict | None = None
        self.log = self.root / "firmware.log"
        self._seen = 0
        self._out = None

    @property
    def label(self) -> str:
        return f"gate {self.number} ({self.gate.business.id} {self.gate.business.gate_en})"

    def start(self) -> "DemoTerminal":
        self.root.mkdir(parents=True, exist_ok=True)
        # kept open: a reboot spawns the firmware again with the same output
        self._out = open(self.log, "ab")
        # SimTerminal boots the firmware again by itself after a reset
        self.sim.start(stdout=self._out, stderr=self._out)
        return self

    @property
    def running(self) -> bool:
        return self.sim.proc is not None and self.sim.proc.poll() in (None, 3)

    def provision(self, fleet_url: str, technician_token: str, wait_online: float = 90.0,
                  step: Callable[[str], None] = lambda s: None) -> dict:
        from provisioning import flow, ports
        from provisioning.fleet_client import FleetClient
        from provisioning.link import Link

        client = FleetClient(fleet_url, technician_token)
        port = ports.open_port(self.sim.console_path)
        try:
            summary = flow.provision(Link(port), client, FIRMWARE, self.gate.site_id, wifi=WIFI,
                                     wait_online=wait_online, on_step=step)
        finally:
            port.close()
            client.close()
        self.device_id = summary.device_id
        self.summary = summary.as_dict()
        (self.root / "provision-summary.json").write_text(json.dumps(self.summary, indent=1))
        return self.summary

    def new_events(self) -> list[dict]:
        evs = self.sim.events()
        out, self._seen = evs[self._seen:], len(evs)
        return out

    def scan(self, qr: str) -> None:
        self.sim.scan(qr)

    def press_exit(self) -> None:
        self.sim.press("exit_button", hold_s=0.15)

    def stop(self) -> None:
        self.sim.stop()
        if self._out is not None:
            self._out.close()


def technician_token(api: FleetApi, site_id: int) -> str:
    """What an operator gives a technician: a 15-minute token bound to one site."""
    return api.post("/technician-tokens", {"site_id": site_id})["token"]


def wait_until(pred: Callable[[], object], timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None
