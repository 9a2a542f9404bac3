# app/policy.py's decider rebuild when the heap runs out, under the real
# MicroPython. GG_FLASH_DIR holds a provisioned control state (provision_kit);
# argv[1] is the scenario, one JSON line comes out. The seams are here, not in
# the firmware: a Port whose reset() only counts, and (scenario "inject")
# TrustStore.add raising MemoryError a given number of times.
import gc
import json
import sys

from hal import unix
from hal.clock import Clock
from gate.occupancy import Occupancy
from app import policy
from app import provisioned
from store.revocation import Revocations
from verify.trust import TrustStore
from verify import reasons

SITE = "q7-sim-001"


class Port(unix.Port):
    resets = 0

    def reset(self):
        self.resets += 1  # the real one ends the process (status 3)


port = Port()
cfg = {"device_id": sys.argv[2], "site_id": SITE}
opened = [0]
_open = Revocations.open


def counting_open(*a):
    opened[0] += 1
    return _open(*a)


Revocations.open = counting_open


def result(plane, **extra):
    d = plane._decider
    out = {"decider": d is not None, "resets": port.resets,
           "nvs": port.nvs().get_int(policy.OOM_KEY, 0), "opened": opened[0],
           "error": plane.state_fields().get(12)}
    if d is None:
        out["verdict"] = reasons.name(reasons.NOT_PROVISIONED)
    out.update(extra)
    print(json.dumps(out))


def new_plane(occupancy=None):
    return policy.Policy(port, cfg, Clock(None, trusted=True), occupancy or Occupancy())


scenario = sys.argv[1]
if scenario == "inject":
    # TrustStore.add fails `n` times, then works: argv[3] = n, argv[4] = uptime s
    failures = [int(sys.argv[3])]
    _add = TrustStore.add

    def add(self, *a, **kw):
        if failures[0] > 0:
            failures[0] -= 1
            raise MemoryError("injected")
        return _add(self, *a, **kw)

    TrustStore.add = add
    plane = new_plane()  # the boot rebuild
    boot = {"boot_decider": plane._decider is not None, "boot_resets": port.resets}
    if len(sys.argv) > 4:
        import time

        plane._boot_ms = time.ticks_add(time.ticks_ms(), -int(sys.argv[4]) * 1000)
        failures[0] = int(sys.argv[5])
        plane.reload()  # a control message applied later
    result(plane, **boot)
elif scenario == "ballast":
    # a real MemoryError: the heap is full when the boot rebuild runs; then
    # the ballast goes and the next rebuild (a control message) works
    import os, control.state, control.blob, gate.rules, gate.decide, verify.verifier  # noqa
    import crypto.ed25519, codec.cbor  # noqa: all a rebuild imports, loaded first

    occupancy = Occupancy()  # made at boot, before the decider (main.py order)
    gc.collect()
    # slots allocated up front: a growing list stops at the first block its
    # own reallocation cannot find, and leaves the rest of the heap free
    ballast = [None] * 4096
    n = 0
    for size in (8192, 1024, 128):
        try:
            while gc.mem_free() > 16 * 1024 and n < 4096:
                ballast[n] = bytearray(size)
                n += 1
        except MemoryError:
            pass
    plane = new_plane(occupancy)
    first = {"boot_decider": plane._decider is not None, "boot_resets": port.resets,
             "boot_nvs": port.nvs().get_int(policy.OOM_KEY, 0)}
    ballast = None
    gc.collect()
    plane.reload()
    result(plane, **first)
