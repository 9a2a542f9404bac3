"""Heap of the MQTT client's receive path under real MicroPython (no network,
live heap after gc.collect() is deterministic): no buffer of the 8 KiB cap's
size stays allocated; a large PUBLISH costs one buffer of its payload's exact
size while it is delivered, and nothing once the callee dropped it; when the
heap has no hole for it, a clear error instead of a crash."""

import json

from mpy import run_micropython
from net_helpers import HERE

MAX_PACKET = 8448


def test_receive_buffers_are_sized_by_the_packet_not_the_cap():
    r = run_micropython(HERE / "mqtt_heap_driver.py", args=["0", "64", "300", "800", "8412"])
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout.decode().splitlines()[-1])
    assert out["rx"] < 1024
    # a whole client (tx buffer, slots, queues, events) is smaller than the
    # receive buffer it used to keep for the cap alone
    assert out["client"] < MAX_PACKET, out
    for res in out["results"]:
        size = res["payload"]
        assert res["ok"] and res["delivered"] == size, res
        assert res["puback"] == 4, res  # answered with one PUBACK
        # while delivered: the payload's own buffer plus a few small objects
        assert size <= res["at_delivery"] < size + 1536, res
        assert res["after"] <= 128, res  # nothing of it left behind
    # no hole for a cap-size payload: a clear error, then a working session
    assert out["no_memory"] == "no memory for a PUBLISH of %d bytes" % MAX_PACKET
    assert out["recovered"] is True
