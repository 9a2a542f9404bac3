# Heap of a signed control message's arrival (MicroPython, no network; run
# by tests/firmware/control/arrival_heap.py): the MQTT client reads a PUBLISH
# from a fake stream in 97-byte reads, the control service queues it,
# verifies it (one-shot Ed25519 with the fleet key) and commits it to the
# control state; no decider rebuild (app code).
# stdin: {"root", "device", "site", "key": hex, "messages": [path, ...]}
#        (the same message signed as versions 1..n: one per attempt)
# stdout: one JSON line once every message is applied in turn:
#   resident  client + state + service after the first one (live heap)
# Run it under smaller and smaller -X heapsize values: the smallest heap in
# which it still succeeds is the peak of an arrival, fragmentation included
# (a ballast cannot stand in for that: it leaves no hole for the 4 KiB
# blocks a full-size message needs).
import asyncio
import gc
import json
import sys

from codec import cbor  # noqa: every module first, the numbers are data only
from verify import cose  # noqa
from crypto import ed25519  # noqa
from control import envelope  # noqa
from control.state import ControlState
from control.service import ControlService
from net.client import MQTTClient

ed25519._base()  # the base-point table: in ROM on the device (ROMFS / frozen)
req = json.loads(sys.stdin.read())
TOPIC = "gg/v1/dev/%s/config" % req["device"]


def packet(payload, pid):
    t = TOPIC.encode()
    body = bytes((len(t) >> 8, len(t) & 0xFF)) + t + bytes((pid >> 8, pid & 0xFF)) + payload
    n = len(body)
    head = bytearray((0x33,))  # PUBLISH QoS 1 retained
    while True:
        b = n & 0x7F
        n >>= 7
        head.append(b | (0x80 if n else 0))
        if not n:
            return bytes(head) + body


class Reader:
    def __init__(self, data):
        self.mv = memoryview(data)
        self.pos = 0

    async def readinto(self, buf):
        n = min(len(buf), 97, len(self.mv) - self.pos)
        buf[0:n] = self.mv[self.pos:self.pos + n]
        self.pos += n
        return n


class Writer:
    def write(self, buf):
        pass

    async def drain(self):
        pass


class Clock:
    trusted = False  # no expiry check: the numbers do not depend on dates

    def now(self):
        return 0


packets = []
for path in req["messages"]:
    with open(path, "rb") as f:
        packets.append(packet(f.read(), len(packets) + 1))
gc.collect()
a = gc.mem_alloc()
state = ControlState(req["root"], req["device"], req["site"])
svc = ControlService(state, req["root"], [bytes.fromhex(req["key"])], Clock())
client = MQTTClient(req["device"], "127.0.0.1")
client._writer = Writer()
client.message_cb = svc.link.on_message  # the resident part routes (control/link.py)
nxt = [0]


def arrival():
    client._reader = Reader(packets[nxt[0]])
    nxt[0] += 1
    asyncio.run(client.handle_packet())
    svc.step()
    client._reader = None
    return state.version(1) == nxt[0]


if not arrival():
    raise SystemExit("first message not applied: %r" % (svc.link.last_error,))
gc.collect()
resident = gc.mem_alloc() - a


for _ in packets[1:]:
    if not arrival():
        raise SystemExit("message %d not applied: %r" % (nxt[0], svc.link.last_error))
print(json.dumps({"resident": resident, "size": len(packets[0]), "applied": state.version(1)}))
