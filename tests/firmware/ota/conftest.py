"""Firmware update tests: the real firmware under the MicroPython unix port,
updated over a real mosquitto by a small fleet side built on the host
library (greengate/ota) and the blob helpers (greengate/control/blobs.py).
The e2e, runtime and net helpers are shared (sys.path as in tests/firmware/e2e)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE.parents[2], HERE.parent / "runtime", HERE.parent / "net", HERE.parent / "e2e", HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
