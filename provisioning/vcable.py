"""A virtual USB cable for the simulator and the tests.

Two pseudo-terminals joined by a pump thread: the simulated device opens one
slave path as its console, the provisioning tool opens the other exactly as
it would open /dev/ttyUSB0. The pump can damage bytes (seeded) to prove the
protocol detects and resends corrupted frames.
"""

from __future__ import annotations

import os
import random
import select
import threading
import tty


class VirtualCable:
    def __init__(self, corrupt_rate: float = 0.0, seed: int = 1) -> None:
        self._dev_master, dev_slave = os.openpty()
        self._host_master, host_slave = os.openpty()
        for fd in (dev_slave, host_slave):
            tty.setraw(fd)
        self.device_path = os.ttyname(dev_slave)
        self.host_path = os.ttyname(host_slave)
        # keep the slaves open so a reopen by either side never hangs up the pty
        self._slaves = (dev_slave, host_slave)
        self.corrupt_rate = corrupt_rate
        self.corrupted = 0
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def __enter__(self) -> VirtualCable:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _damage(self, data: bytes) -> bytes:
        if not self.corrupt_rate:
            return data
        out = bytearray(data)
        for i in range(len(out)):
            if self._rng.random() < self.corrupt_rate:
                out[i] ^= 1 << self._rng.randrange(8)
                self.corrupted += 1
        return bytes(out)

    def _pump(self) -> None:
        pair = {self._dev_master: self._host_master, self._host_master: self._dev_master}
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(list(pair), [], [], 0.05)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue  # the other side has not opened its end yet
                if data:
                    os.write(pair[fd], self._damage(data))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1)
        for fd in (self._dev_master, self._host_master, *self._slaves):
            try:
                os.close(fd)
            except OSError:
                pass
