"""End-to-end tests of the real firmware (firmware/main.py under the
MicroPython unix port) through the simulator, against a real mosquitto.

Helpers are shared with the runtime tests (provision_kit: signed control
messages applied onto a flash dir) and the net tests (net_helpers: paho
subscriber, scan batch decoding): both folders go on sys.path here."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
for p in (REPO, HERE.parent / "runtime", HERE.parent / "net", HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
