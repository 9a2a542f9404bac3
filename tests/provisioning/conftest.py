import os
import subprocess
import time
from pathlib import Path

import pytest

from mpy import MICROPYTHON, mpy_env
from provisioning.link import Link
from provisioning.ports import open_port
from provisioning.vcable import VirtualCable

DEVICE_MAIN = Path(__file__).with_name("device_main.py")


class SetupDevice:
    """The firmware's SETUP service under MicroPython on one end of a
    virtual cable; `link()` opens the other end like a technician's tool."""

    def __init__(self, tmp: Path, chip_id: str, corrupt_rate: float = 0.0):
        self.flash = tmp / "flash"
        self.flash.mkdir(parents=True, exist_ok=True)
        self.chip_id = chip_id
        self.cable = VirtualCable(corrupt_rate=corrupt_rate).__enter__()
        self.log = (tmp / "device.log").open("wb")
        self.proc = self._start()
        self.ports = []

    def _start(self):
        env = mpy_env()
        env.update(GG_FLASH_DIR=str(self.flash), GG_CONSOLE_PTY=self.cable.device_path,
                   GG_CHIP_ID=self.chip_id)
        return subprocess.Popen([MICROPYTHON, "-X", "heapsize=2m", str(DEVICE_MAIN)],
                                env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def relink(self) -> Link:
        """Close the tool's port (pyserial locks it) and open a new link."""
        while self.ports:
            self.ports.pop().close()
        return self.link()

    def restart_after_reboot(self, timeout: float = 30.0):
        """REBOOT ends the service (port.reset: exit 3); start it again on
        the same flash and cable, as the board would."""
        assert self.proc.wait(timeout) == 3
        self.proc = self._start()

    def link(self, timeout: float = 2.0, retries: int = 5) -> Link:
        port = open_port(self.cable.host_path)
        self.ports.append(port)
        link = Link(port, timeout=timeout, retries=retries)
        link.connect()
        return link

    def close(self):
        for p in self.ports:
            p.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.cable.close()
        self.log.close()


@pytest.fixture
def setup_device(tmp_path):
    devices = []

    def make(chip_id="a1b2c3d4e5f6", corrupt_rate=0.0):
        d = SetupDevice(tmp_path / f"dev{len(devices)}", chip_id, corrupt_rate)
        devices.append(d)
        return d

    yield make
    for d in devices:
        d.close()
