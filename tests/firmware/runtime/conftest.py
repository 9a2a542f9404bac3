"""Fixtures for runtime firmware tests: a pty with a fake GM65 on its master."""

from __future__ import annotations

import os
import pty
import sys
import tty
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
for p in (REPO, HERE):  # greengate.sim, and provision_kit next to the tests
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


class ScannerLine:
    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def scanner_line():
    line = ScannerLine()
    try:
        yield line
    finally:
        line.close()
