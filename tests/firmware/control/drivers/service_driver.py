# Test driver (MicroPython): control/service.py against a fake MQTT client,
# interactive (one JSON line in, one JSON line out).
# argv: root device_id site_id fleet_key_file
#   {"op": "msg", "topic": t, "path": file, "step": true} -> on_message (+ step())
#   {"op": "out"} -> {"pub": [[topic, hex]], "replies": [hex], "applied": [kinds],
#                     "state": hex CBOR of state_fields(), "files": [...]}
import sys
import json
import os
import binascii

from codec import cbor
from control.state import ControlState
from control.service import ControlService

root, device_id, site_id = sys.argv[1], sys.argv[2], sys.argv[3]
keys = [open(sys.argv[4], "rb").read()]


class FakeClient:
    def __init__(self):
        self.pub = []
        self.subs = []
        self.message_cb = None

    def subscribe(self, topic, qos=1):
        self.subs.append([topic, qos])

    def publish(self, topic, payload, qos=0, retain=False):
        self.pub.append([topic, binascii.hexlify(payload).decode(), qos])
        return len(self.pub)


class Clock:
    trusted = True
    t = 0

    def now(self):
        return self.t


applied = []
commands = []


def on_command(code, args):
    commands.append(code)
    if code == 2:
        return 0, "opened %ds" % args.get(1, 0), None
    if code == 5:
        return 0, "png", bytes(range(256)) * 10
    raise ValueError("boom")


clock = Clock()
client = FakeClient()
svc = ControlService(ControlState(root, device_id, site_id), root, keys, clock,
                     on_applied=applied.append, on_command=on_command)
svc.attach(client)
print(json.dumps({"subs": client.subs}))

# "oom": the next n handle() calls run out of heap, as in a fragmented heap
_handle = svc.handle
oom = [0]


def handle(kind, data):
    if oom[0]:
        oom[0] -= 1
        raise MemoryError("memory allocation failed, allocating 4096 bytes")
    return _handle(kind, data)


svc.handle = handle


def step():
    try:
        svc.step()
    except MemoryError:
        return {"oom": True}
    return {}

for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    if op == "msg":
        clock.t = cmd.get("now", clock.t)
        with open(cmd["path"], "rb") as f:
            client.message_cb(cmd["topic"], f.read(), cmd.get("retained", False))
        res = step() if cmd.get("step", True) else {}
    elif op == "oom":
        oom[0] = cmd["n"]
        res = {}
    elif op == "step":
        res = step()
    elif op == "out":
        reps = [binascii.hexlify(r).decode() for r in svc.take_replies()]
        res = {"pub": client.pub, "replies": reps, "applied": applied, "commands": commands,
               "state": binascii.hexlify(cbor.dumps(svc.state_fields())).decode(),
               "files": sorted(os.listdir(root)), "dropped": svc.dropped,
               "inbox": len(svc._inbox)}
        client.pub = []
        applied = []
        svc.on_applied = applied.append
    print(json.dumps(res))
