# Boots the real firmware (main.py, from MICROPYPATH) under the simulator,
# with one test-only addition: after the events the test samples at (the
# control service coming and going, control messages, commands, the exit
# button: the test's probe) a "mem" event with the live heap, which of the
# control service's modules are loaded, and a sequence number; the qstr pool
# (interned names are never freed) is printed on stdout after "SEQ <n>".
import gc
import sys

import micropython
from hal import unix

RARE = ("app.controlservice", "control.service", "control.envelope", "control.blob",
        "app.provisioned")
_event = unix.Port.event
_seq = [0]


def event(self, kind, fields=None):
    _event(self, kind, fields)
    if kind in ("control_service", "control", "command", "exit"):
        _seq[0] += 1
        gc.collect()
        print("SEQ %d" % _seq[0])
        micropython.qstr_info()
        _event(self, "mem", {"after": kind, "seq": _seq[0], "alloc": gc.mem_alloc(),
                             "loaded": [m for m in RARE if m in sys.modules]})


unix.Port.event = event
import main  # noqa: E402,F401  (runs the firmware)
