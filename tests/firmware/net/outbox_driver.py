# MicroPython driver for the outbox tests: JSON commands on stdin, one JSON
# answer per command on stdout. The test edits the files between commands
# (truncate, flip bits) to simulate power cuts and flash corruption.
#   {"op": "open", "dir", "capacity", "segment_records"}  -> info
#   {"op": "append", "data": hex}                          -> {"seq"}
#   {"op": "fill", "n", "size"}  n records of `size` bytes -> {"seqs"}
#   {"op": "pending", "n", "max_bytes"}                     -> {"records": [[seq, hex]]}
#   {"op": "ack", "seq"}  {"op": "close"}  {"op": "info"}
import json
import sys
from binascii import hexlify, unhexlify

from store.outbox import Outbox
import errors

ob = None


def info():
    return {"next_seq": ob.next_seq, "depth": ob.depth, "dropped": ob.dropped,
            "acked": ob.acked, "capacity": ob.capacity}


while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd = json.loads(line)
    op = cmd["op"]
    try:
        if op == "open":
            ob = Outbox(cmd["dir"], capacity=cmd.get("capacity", 64),
                        segment_records=cmd.get("segment_records", 8))
            out = info()
        elif op == "append":
            out = {"seq": ob.append(unhexlify(cmd["data"]))}
        elif op == "fill":
            seqs = []
            for i in range(cmd["n"]):
                seqs.append(ob.append(bytes([(ob.next_seq + j) & 0xFF for j in range(cmd["size"])])))
            out = {"seqs": seqs}
        elif op == "pending":
            recs = ob.pending(cmd.get("n", 16), cmd.get("max_bytes", 0))
            out = {"records": [[s, hexlify(d).decode()] for s, d in recs]}
        elif op == "ack":
            ob.ack(cmd["seq"])
            out = info()
        elif op == "close":
            ob.close()
            out = {}
        elif op == "info":
            out = info()
        else:
            out = {"error": "unknown op"}
    except errors.GateError as e:
        out = {"error": "GateError", "detail": e.detail}
    print(json.dumps(out))
