# Test driver (MicroPython): control/link.py without the real service.
# argv: root device_id site_id config_path other_path [retry]
#   route (default): root holds an applied config (ctrl_1.bin) whose signed
#   bytes are in config_path; other_path: another signed config (not
#   applied); the load of the service fails.
#   retry: config_path / other_path are configs v2 / v3; the first two
#   loads fail (MemoryError, as from a fragmented heap), the third gets a
#   stand-in service: the messages that came meanwhile must reach it,
#   newest config only, commands in order (at most 4 kept).
#   oversize: messages over the MQTT packet cap (client.oversize_cb) on
#   control topics, the ack topic and an unknown (None) topic: what state
#   key 12 says after each, the replies and state publishes, the loads.
# Prints one JSON line: what was loaded, reported and logged.
import sys
import json
import asyncio

from control.state import ControlState
from control.link import ControlLink

root, device_id, site_id, applied_path, other_path = sys.argv[1:6]
mode = sys.argv[6] if len(sys.argv) > 6 else "route"
with open(applied_path, "rb") as f:
    applied = f.read()
with open(other_path, "rb") as f:
    other = f.read()
logs = []
loads = []
events = []


def failing_load(link):
    loads.append(1)
    import control.service  # noqa: imported, then the load fails
    raise MemoryError("memory allocation failed")


class FakeClient:
    message_cb = None
    subs = []

    def subscribe(self, topic, qos=1):
        self.subs.append(topic)


def route():
    state = ControlState(root, device_id, site_id)
    link = ControlLink(state, failing_load, 1000, logs.append, lambda k, f: events.append(k))
    client = FakeClient()
    link.attach(client)
    cb = client.message_cb
    dev = "gg/v1/dev/%s/" % device_id
    cb(dev + "config", applied, True)          # the applied bytes again: nothing loaded
    cb(dev + "config", bytearray(applied), True)
    cb(dev + "blob", b"\xa0", False)           # a chunk while nothing is fetched
    cb("gg/v1/dev/gg-ffffffffffff/config", other, False)  # not our topic
    cb("gg/v1/fleet/other", other, False)
    quiet = len(loads)
    cb(dev + "config", other, False)           # needs work: the load fails
    print(json.dumps({
        "subs": sorted(client.subs), "loads_before": quiet, "loads": len(loads),
        "svc": link.svc is not None, "error": link.state_fields()[12],
        "fetch": link.state_fields()[13], "versions": link.state_fields()[3],
        "logs": logs, "events": events, "service_module": "control.service" in sys.modules,
    }))


got = []


class FakeService:
    client = reporter = None

    def receive(self, kind, payload):
        got.append([kind, bytes(payload).hex()])

    async def run(self, quiet_ms):
        await asyncio.sleep_ms(50)


def flaky_load(link):
    loads.append(1)
    if len(loads) <= 2:
        raise MemoryError("memory allocation failed")
    return FakeService()


async def retry():
    v2, v3 = applied, other
    state = ControlState(root, device_id, site_id)
    link = ControlLink(state, flaky_load, 1000, logs.append)
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


class RecordingClient(FakeClient):
    def __init__(self):
        self.subs = []
        self.pubs = []

    def publish(self, topic, payload, qos=0, retain=False):
        self.pubs.append([topic, bytes(payload).hex(), qos, retain])
        return len(self.pubs)


class FakeReporter:
    states = 0

    def publish_state(self):
        self.states += 1


def oversize():
    state = ControlState(root, device_id, site_id)
    link = ControlLink(state, failing_load, 1000, logs.append)
    client = RecordingClient()
    reporter = FakeReporter()
    link.attach(client, reporter)
    cb = client.oversize_cb
    dev = "gg/v1/dev/%s/" % device_id
    steps = []
    for topic, size in ((dev + "config", 5000), (dev + "ack", 4400), (None, 70000),
                        ("gg/v1/fleet/trust", 4353), (dev + "cmd", 9000), (dev + "blob", 6000),
                        ("gg/v1/dev/gg-ffffffffffff/config", 5000)):
        cb(topic, size, topic is not None and topic.endswith("config"))
        steps.append([topic, link.state_fields()[12], reporter.states, len(client.pubs)])
    print(json.dumps({"steps": steps, "pubs": client.pubs, "loads": len(loads),
                      "logs": logs, "svc": link.svc is not None}))


if mode == "oversize":
    oversize()
elif mode == "retry":
    asyncio.run(retry())
else:
    route()
