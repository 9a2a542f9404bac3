# JSON-lines driver for the device's frame module under MicroPython:
# {"op": "build", "type", "seq", "payload"} -> {"hex"}
# {"op": "parse", "hex", "idle": bool} -> {"items": [[type, seq, hex] | code]}
import binascii
import json
import sys

from setup import frame

parser = frame.Parser()
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "build":
        data = frame.build(req["type"], req["seq"], binascii.unhexlify(req["payload"]))
        print(json.dumps({"hex": binascii.hexlify(data).decode()}))
    else:
        out = []
        parser.feed(binascii.unhexlify(req["hex"]), out)
        if req.get("idle"):
            parser.idle(out)
        items = []
        for it in out:
            if type(it) is tuple:
                items.append([it[0], it[1], binascii.hexlify(it[2]).decode()])
            else:
                items.append(it)
        print(json.dumps({"items": items, "noise": parser.noise, "crc": parser.crc_errors}))
