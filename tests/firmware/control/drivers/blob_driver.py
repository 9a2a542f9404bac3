# Test driver (MicroPython): receive a blob chunk by chunk (control/blob.py).
# argv: root. stdin JSON lines:
#   {"op": "begin", "sha": hex, "size": n, "chunk": c}   (also after a "reboot")
#   {"op": "chunk", "path": file with one CBOR chunk message}
#   {"op": "request"} -> the fetch request (hex CBOR)
#   {"op": "have"}
import sys
import json
import binascii
import os

import errors
from codec import cbor
from control import blob

root = sys.argv[1]
rx = None
ref = None
for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    res = {}
    try:
        if op == "begin":
            ref = {1: binascii.unhexlify(cmd["sha"]), 2: cmd["size"], 3: cmd["chunk"]}
            rx = blob.BlobReceiver(root, ref)
            res = {"next": rx.next, "count": rx.count}
        elif op == "chunk":
            with open(cmd["path"], "rb") as f:
                done = rx.add(cbor.loads(f.read()))
            res = {"done": done, "next": rx.next}
        elif op == "request":
            res = {"hex": binascii.hexlify(rx.fetch_request()).decode()}
        elif op == "have":
            res = {"have": blob.have(root, ref), "files": sorted(os.listdir(root))}
        elif op == "reboot":
            rx.abort()
            rx = None
            res = {}
    except errors.ControlError as e:
        res = {"error": e.reason, "detail": e.detail}
    print(json.dumps(res))
