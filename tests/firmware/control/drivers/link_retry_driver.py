# Test driver (MicroPython): control/link.py when the service cannot load.
# argv: root device_id site_id config_v2_path config_v3_path
# The first two loads fail (MemoryError, as from a fragmented heap), the
# third succeeds: the messages that came meanwhile must reach the service,
# newest config only, commands in order (at most 4 kept).
import sys
import json
import asyncio

from control.state import ControlState
from control.link import ControlLink

root, device_id, site_id, v2_path, v3_path = sys.argv[1:6]
with open(v2_path, "rb") as f:
    v2 = f.read()
with open(v3_path, "rb") as f:
    v3 = f.read()
logs = []
loads = []
got = []


class FakeService:
    client = reporter = None

    def receive(self, kind, payload):
        got.append([kind, bytes(payload).hex()])

    async def run(self, quiet_ms):
        await asyncio.sleep_ms(50)


def load(link):
    loads.append(1)
    if len(loads) <= 2:
        raise MemoryError("memory allocation failed")
    return FakeService()


class FakeClient:
    message_cb = None

    def subscribe(self, topic, qos=1):
        pass


async def main():
    state = ControlState(root, device_id, site_id)
    link = ControlLink(state, load, 1000, logs.append)
    link.retry_ms = 100
    client = FakeClient()
    link.attach(client)
    cb = client.message_cb
    dev = "gg/v1/dev/%s/" % device_id
    cb(dev + "config", bytearray(v2), False)   # load fails: kept
    for i in range(6):                         # commands while waiting: 4 kept
        cb(dev + "cmd", b"cmd%d" % i, False)
    cb(dev + "config", v3, False)              # supersedes v2 while waiting
    waiting = len(link._waiting)
    await asyncio.sleep_ms(1200)               # retry 1 (100 ms) fails, retry 2 (200 ms) loads
    print(json.dumps({"loads": len(loads), "waiting_before": waiting, "got": got,
                      "error": link.state_fields()[12], "dropped": link.dropped,
                      "logs": logs, "waiting_after": link._waiting}))


asyncio.run(main())
