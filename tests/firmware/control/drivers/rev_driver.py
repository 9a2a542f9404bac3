# Test/bench driver (MicroPython): look pass hashes up in a revocation store.
# argv: snapshot_path [delta_path]
# stdin JSON lines:
#   {"op": "range", "tag": "m", "seed": s, "first": 0, "n": N} -> hits among
#       sha256(b"<tag><seed>:" + i as 4 bytes BE)[:16] for i in first..first+n
#   {"op": "has", "hex": [...]} -> list of bools
#   {"op": "info"}
#   {"op": "reopen", "stride": n} -> info of the store opened again with
#       n index keys per slice (0 = automatic)
#   {"op": "truncate", "size": n} -> cut the snapshot file (store stays open)
import sys
import json
import hashlib
import binascii
import time

import errors
from store import revocation

revs = load_error = None


def open_store(stride=0):
    global revs, load_error
    try:
        revs = revocation.Revocations.open(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None,
                                           stride)
        load_error = None
    except errors.GateError as e:
        revs = None
        load_error = [e.reason, e.detail]


def info():
    if revs is None:
        return {"error": load_error}
    s = revs.snapshot
    return {"entries": s.entries, "bits": s.bits, "k": s.k, "blocks": s.blocks,
            "delta": revs.delta is not None, "stride": s._stride, "slices": s._ntop}


open_store()


for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    if op == "info":
        res = info()
    elif op == "reopen":
        if revs is not None:
            revs.close()
        open_store(cmd["stride"])
        res = info()
    elif op == "truncate":
        with open(sys.argv[1], "rb") as f:
            data = f.read(cmd["size"])
        with open(sys.argv[1], "wb") as f:
            f.write(data)
        res = {}
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
