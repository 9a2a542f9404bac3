"""Heap of the MQTT client's receive path under real MicroPython (no network,
live heap after gc.collect() is deterministic): no buffer of the 4 KiB cap's
size stays allocated; a large PUBLISH costs one buffer of its payload's exact
size while it is delivered, and nothing once the callee dropped it; when the
heap has no hole for it, a clear error instead of a crash; a PUBLISH over
the cap (bigger than the whole heap) is dropped without allocating it."""

import json

from mpy import run_micropython
from net_helpers import HERE

MAX_PACKET = 4352
CAP_PAYLOAD = MAX_PACKET - 4 - 32  # the driver's 32-byte topic, QoS 1 packet id
OLD_RX_BUFFER = 8448  # what the client kept for the (then 8 KiB) cap before


def test_receive_buffers_are_sized_by_the_packet_not_the_cap():
    r = run_micropython(HERE / "mqtt_heap_driver.py", args=["0", "64", "300", "800", str(CAP_PAYLOAD)])
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout.decode().splitlines()[-1])
    assert out["rx"] < 1024
    # a whole client (tx buffer, slots, queues, events) is smaller than the
    # receive buffer it used to keep for the cap alone
    assert out["client"] < OLD_RX_BUFFER, out
    # the oversize callback took no room (4,320 B before it, 4,256 after)
    assert out["client"] <= 4320, out
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
    # over the cap and bigger than the whole heap (6 MiB, heap 4 MB): read
    # through the receive buffer and dropped, PUBACKed, reported; while it
    # is reported the heap holds no more than for a 64-byte delivery
    over = out["oversize"]
    topic = "gg/v1/dev/gg-a1b2c3d4e5f6/config"
    [(got_topic, size, retained, at_report)] = over["reported"]
    assert (got_topic, size, retained) == (topic, 2 + len(topic) + 2 + 6 * 1024 * 1024, True)
    assert at_report < 1536, over
    assert over["after"] <= 256, over  # the client's last_error line, nothing of the packet
    assert over["puback"] == "40020b0c"
    assert over["last_error"] == f"PUBLISH of {size} bytes over {MAX_PACKET} dropped: {topic}"
    assert over["next"] == 5 and over["next_ok"] is True  # the next PUBLISH parsed whole


WRITES = r"""
import asyncio, gc, json
from net.mqtt import MQTTProtocol

class Writer:
    def __init__(self):
        self.writes = []
    def write(self, buf):
        self.writes.append(bytes(buf))
    async def drain(self):
        pass

async def main():
    MQTTProtocol("gg-0")  # first use
    gc.collect()
    base = gc.mem_alloc()
    p = MQTTProtocol("gg-1")
    gc.collect()
    resident = gc.mem_alloc() - base
    w = p._writer = Writer()
    out = {}
    await p.send_publish("gg/v1/dev/gg-1/scans", bytes(10), 1, False, 7)  # first use
    w.writes = []
    for size in (100, 1000, 3000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        gc.collect()
        before = gc.mem_alloc()
        await p.send_publish("gg/v1/dev/gg-1/scans", payload, 1, False, 7)
        pkt = w.writes.pop()
        gc.collect()
        # the packet's bytes object here: a header block + its data in 32 B blocks
        held = 32 + (len(pkt) + 1 + 31) // 32 * 32
        kept = gc.mem_alloc() - before - held
        out[size] = {"writes": len(w.writes) + 1, "packet": pkt.hex(), "kept": kept}
        w.writes = []
    out["resident"] = resident
    print(json.dumps(out))

asyncio.run(main())
"""


def test_each_packet_is_one_write_and_large_ones_leave_no_buffer():
    # one write per packet (separate writes meet Nagle + delayed ACK), from
    # the small resident buffer or, for a larger packet, a buffer of its own
    # that is not kept once written
    r = run_micropython(WRITES)
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout.decode().splitlines()[-1])
    # resident: the protocol object with its receive and transmit buffers
    # (1,184 B here; 2,208 when the transmit buffer was sized for the
    # largest packet, a ~1 KiB scan batch)
    assert out.pop("resident") < 1536, out
    topic = b"gg/v1/dev/gg-1/scans"
    for size in (100, 1000, 3000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        body = len(topic).to_bytes(2, "big") + topic + (7).to_bytes(2, "big") + payload
        n, length = len(body), b""
        while True:
            length += bytes([(n & 0x7F) | (0x80 if n >> 7 else 0)])
            n >>= 7
            if not n:
                break
        res = out[str(size)]
        assert res["writes"] == 1, res
        assert bytes.fromhex(res["packet"]) == b"\x32" + length + body
        assert res["kept"] <= 64, res  # nothing of the size of the packet stays
