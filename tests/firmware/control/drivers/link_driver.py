# Test driver (MicroPython): control/link.py's routing without the service.
# argv: root device_id site_id config_path other_path
#   root holds an applied config (ctrl_1.bin) whose signed bytes are in
#   config_path; other_path: another signed config (not applied).
# Prints one JSON line: what was loaded, reported and logged.
import sys
import json

from control.state import ControlState
from control.link import ControlLink

root, device_id, site_id, applied_path, other_path = sys.argv[1:6]
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
