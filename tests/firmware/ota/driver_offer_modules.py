# Boots the real firmware as main.py does (slotboot), with one test-only
# addition: after the updater's "offer taken" event, a "mods" event saying
# which of the control service's modules are loaded at that moment (they
# must be gone: docs/memory.md "Firmware updates"). Base slot only: the
# wrapper's hal.unix would otherwise stand in for a slot's own.
import sys

from hal import unix

CONTROL = ("app.controlservice", "control.service", "control.envelope", "control.blob",
           "app.provisioned")
_event = unix.Port.event


def event(self, kind, fields=None):
    _event(self, kind, fields)
    if kind == "ota" and fields and fields.get("offer") == "taken":
        _event(self, "mods", {"control": [m for m in CONTROL if m in sys.modules],
                              "updater": "ota.updater" in sys.modules})


unix.Port.event = event
import slotboot  # noqa: E402

slotboot.run()
