# Test/bench driver (MicroPython): look pass hashes up in a revocation store.
# argv: snapshot_path [delta_path]
# stdin JSON lines:
#   {"op": "range", "tag": "m", "seed": s, "first": 0, "n": N} -> hits among
#       sha256(b"<tag><seed>:" + i as 4 bytes BE)[:16] for i in first..first+n
#   {"op": "has", "hex": [...]} -> list of bools
#   {"op": "info"}
import sys
import json
import hashlib
import binascii
import time

import errors
from store import revocation

try:
    revs = revocation.Revocations.open(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    load_error = None
except errors.GateError as e:
    revs = None
    load_error = [e.reason, e.detail]


for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    if op == "info":
        if revs is None:
            res = {"error": load_error}
        else:
            s = revs.snapshot
            res = {"entries": s.entries, "bits": s.bits, "k": s.k, "blocks": s.blocks,
                   "delta": revs.delta is not None}
    elif op == "range":
        prefix = b"%s%d:" % (cmd["tag"].encode(), cmd["seed"])
        ctr = bytearray(4)
        hits = 0
        contains = revs.contains
        sha = hashlib.sha256
        t = time.ticks_us()
        for i in range(cmd["first"], cmd["first"] + cmd["n"]):
            ctr[0] = (i >> 24) & 255
            ctr[1] = (i >> 16) & 255
            ctr[2] = (i >> 8) & 255
            ctr[3] = i & 255
            h = sha(prefix)
            h.update(ctr)
            if contains(h.digest()[:16]):
                hits += 1
        res = {"hits": hits, "us": time.ticks_diff(time.ticks_us(), t)}
    elif op == "close":
        revs.close()
        res = {}
    elif op == "has":
        out = []
        for hx in cmd["hex"]:
            try:
                out.append(revs.contains(binascii.unhexlify(hx)))
            except errors.GateError as e:
                out.append(["error", e.reason])
        res = {"has": out}
    print(json.dumps(res))
