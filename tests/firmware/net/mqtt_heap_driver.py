# Heap of the MQTT client's receive path (MicroPython, no network): a fake
# stream feeds PUBLISH packets to MQTTClient.handle_packet in small reads.
# Prints one JSON line (bytes, live heap after gc.collect()):
#   client      what constructing an MQTTClient leaves allocated
#   rx          its resident receive buffer
#   results     per PUBLISH payload size: at_delivery (live heap above the
#               baseline while on_message runs and keeps the payload, as the
#               control service's inbox does) and after (once it is dropped)
#   no_memory   the error a cap-size PUBLISH gives when the heap has no hole
#               for its payload (plenty free, all in 1 KiB pieces)
#   recovered   a cap-size PUBLISH delivered once the heap is whole again
#   oversize    a QoS 1 PUBLISH of OVERSIZE bytes (more than the whole heap)
#               from a stream made on the fly: what on_oversize got, the
#               live heap above the baseline then and after, the PUBACK
#               bytes, and the PUBLISH after it delivered
# Also the measurement behind docs/memory.md:
#   MICROPYPATH=firmware:.frozen micropython tests/firmware/net/mqtt_heap_driver.py
import asyncio
import gc
import json
import sys

from net.client import MQTTClient
from net.mqtt import MAX_PACKET, MQTTError

TOPIC = b"gg/v1/dev/gg-a1b2c3d4e5f6/config"
CAP = MAX_PACKET - 4 - len(TOPIC)  # largest payload on this topic, QoS 1
SIZES = [int(a) for a in sys.argv[1:]] or [64, 800, CAP]
OVERSIZE = 6 * 1024 * 1024  # the tests run with a 4 MB heap


class Reader:
    def __init__(self, data, step):
        self.mv = memoryview(data)
        self.pos = 0
        self.step = step

    async def readinto(self, buf):
        n = min(len(buf), self.step, len(self.mv) - self.pos)
        buf[0:n] = self.mv[self.pos:self.pos + n]
        self.pos += n
        return n


class Generated:
    """A stream of `head`, then `n` bytes of filler, then `tail`, made while
    it is read (the filler is never in memory)."""

    def __init__(self, head, n, tail):
        self.parts = [memoryview(head), n, memoryview(tail)]

    async def readinto(self, buf):
        while self.parts:
            p = self.parts[0]
            if isinstance(p, int):
                k = min(len(buf), p)
                for i in range(k):
                    buf[i] = 0x5A
                if p - k:
                    self.parts[0] = p - k
                else:
                    self.parts.pop(0)
                return k
            k = min(len(buf), len(p))
            buf[0:k] = p[0:k]
            if len(p) - k:
                self.parts[0] = p[k:]
            else:
                self.parts.pop(0)
            return k
        return 0


class Writer:
    def __init__(self):
        self.n = 0
        self.data = b""

    def write(self, buf):
        self.n += len(buf)
        self.data = bytes(buf)

    async def drain(self):
        pass


def publish(payload_len, pid):
    body_len = 2 + len(TOPIC) + 2 + payload_len
    data = bytearray(1 + 4 + body_len)
    data[0] = 0x33  # QoS 1, retained
    i = 1
    n = body_len
    while True:
        b = n & 0x7F
        n >>= 7
        data[i] = b | (0x80 if n else 0)
        i += 1
        if not n:
            break
    data[i] = len(TOPIC) >> 8
    data[i + 1] = len(TOPIC) & 0xFF
    i += 2
    data[i:i + len(TOPIC)] = TOPIC
    i += len(TOPIC)
    data[i] = pid >> 8
    data[i + 1] = pid & 0xFF
    i += 2
    for k in range(payload_len):
        data[i + k] = k & 0xFF
    return memoryview(data)[0:i + payload_len]


def live():
    gc.collect()
    return gc.mem_alloc()


async def main():
    kept = []
    seen = {}

    def on_message(topic, payload, retained):
        kept.append(payload)  # the callee owns it (the inbox keeps it)
        seen["at"] = live()
        seen["len"] = len(payload)
        seen["ok"] = topic == TOPIC.decode() and retained and (
            not payload or payload[-1] == (len(payload) - 1) & 0xFF)

    a = live()
    client = MQTTClient("gg-a1b2c3d4e5f6", "127.0.0.1", on_message=on_message)
    cost = live() - a
    client._writer = Writer()
    results = []
    for size in [64] + SIZES:  # the first one only warms up (one-time allocations)
        client._reader = Reader(publish(size, 1), 97)
        base = live()
        await client.handle_packet()
        kept.clear()
        after = live() - base
        results.append({"payload": size, "delivered": seen.get("len"), "ok": seen.get("ok"),
                        "at_delivery": seen["at"] - base, "after": after,
                        "puback": client._writer.n})
        client._writer.n = 0
        client._reader = None
    # A fragmented heap: the payload's buffer cannot be had. A clear error
    # (the session is then closed and re-opened), not a crash.
    packet = publish(CAP, 2)
    blocks = []
    try:
        while True:
            blocks.append(bytearray(1024))
    except MemoryError:
        pass
    for i in range(0, len(blocks), 2):
        blocks[i] = None
    client._reader = Reader(packet, 97)
    try:
        await client.handle_packet()
        error = None
    except MQTTError as e:
        error = str(e)
    blocks = None
    seen.clear()
    client._reader = Reader(packet, 97)
    await client.handle_packet()
    kept.clear()
    recovered = seen.get("len") == CAP and seen.get("ok")
    # Over the cap, bigger than the whole heap: read and dropped in place.
    reported = []

    def on_oversize(topic, size, retained):
        reported.append([topic, size, retained, live() - base])

    client.oversize_cb = on_oversize
    # topic length, topic, packet id 0x0B0C
    var = bytes([0, len(TOPIC)]) + TOPIC + b"\x0b\x0c"
    n = len(var) + OVERSIZE
    head = bytearray([0x33])  # QoS 1, retained
    while True:
        head.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            break
    client._reader = Generated(bytes(head) + var, OVERSIZE, publish(5, 0x0B0D))
    seen.clear()
    base = live()
    await client.handle_packet()
    puback = client._writer.data
    after = live() - base
    await client.handle_packet()  # the PUBLISH after it
    kept.clear()
    print(json.dumps({"client": cost, "rx": len(client._rx), "results": results[1:],
                      "no_memory": error, "recovered": recovered,
                      "oversize": {"reported": reported, "after": after,
                                   "puback": puback.hex(), "next": seen.get("len"),
                                   "next_ok": seen.get("ok"), "last_error": client.last_error}}))


asyncio.run(main())
