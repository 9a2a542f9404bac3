# Free heap one EU DCC check needs (issue 13 target: <= 16 KB), MicroPython.
#   micropython dcc_heap_driver.py REQUEST.json
#   REQUEST: {"table": GGDT path, "now": int, "texts": {name: HC1 text}}
# Prints one JSON line {name: {"warm": bytes, "cold": bytes, "reason": int},
# "bytearray2048": bytes}: the least of 3 bench/mpy_heap.headroom (the smallest free heap
# the check succeeds in, ballast method, 256-byte steps) of
# DccVerifier.check with its modules already imported (warm) and dropped
# before each try as the gate does after every DCC scan (cold: the imports
# are part of the check), and the method's own yardstick, a bare 2 KB buffer.
# The firmware should be loaded from .mpy files (tests/firmware/verify/
# test_dcc_heap.py): modules compiled from source leave thousands of small
# holes that the method counts as free heap.
import gc
import json
import sys

from mpy_heap import headroom

from app import unload
from verify.dcc import RARE, DccVerifier

req = json.loads(open(sys.argv[1]).read())
v = DccVerifier(req["table"], drop=unload)  # as app/provisioned.py builds it
now = req["now"]


def drop():
    unload(*RARE)


def least(fn, setup=None):
    # the method over-counts by how the ballast happens to lie (its
    # yardstick moves by ~3 KB between heaps): the least of 3 measurements
    return min(headroom(fn, 96 * 1024, 2048, setup) for _ in range(3))


out = {}
for name, text in req["texts"].items():
    reason = v.check(text, now).reason
    def check():
        return v.check(text, now).reason == reason
    out[name] = {"reason": reason, "warm": least(check), "cold": least(check, drop)}
gc.collect()
out["bytearray2048"] = least(lambda: bytearray(2048))
print(json.dumps(out))
