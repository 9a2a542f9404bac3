# MicroPython driver for the byte-exact fleet-ack tests: the real outbox and
# reporter with a fake MQTT client (connected, every publish PUBACKed at
# once, recorded). Steps as JSON lines on stdin, one snapshot line per step:
#   {"op": "msg", "topic", "hex"}   deliver an incoming message (client.message_cb)
#   {"op": "wait_scans", "n"}       until n scan batches were published
#   {"op": "connect"}               a (re)connect: reporter.on_connect
#   {"op": "jitter", "ms", "n"}     n samples of the resend wait's jitter
# argv[1]: outbox directory, argv[2]: fleet_ack_ms, argv[3]: scans to record.
import asyncio
import json
import sys
from binascii import hexlify, unhexlify

from store.outbox import Outbox
from net import reporter as rep

DEV = "gg-0000000000b1"


class FakeClient:
    connected = True

    def __init__(self):
        self.message_cb = None
        self.pubs = []
        self.subs = []
        self.pid = 0

    def publish(self, topic, payload, qos=0, retain=False):
        self.pid += 1
        self.pubs.append((topic, payload))
        return self.pid

    def is_pending(self, pid):
        return False

    async def wait_puback(self, pid, timeout_ms=0):
        return True

    def subscribe(self, topic, qos=1):
        self.subs.append([topic, qos])


def scan_batches(client):
    from codec import cbor
    out = []
    for topic, payload in client.pubs:
        if topic.endswith("/scans"):
            scans = cbor.loads(payload)[2]
            out.append([scans[0][0], scans[-1][0]])
    return out


async def until(pred):
    for _ in range(3000):  # 30 s: generous, the loop is waiting on events
        if pred():
            return True
        await asyncio.sleep_ms(10)
    return False


async def main():
    ob = Outbox(sys.argv[1], capacity=256, segment_records=32)
    client = FakeClient()
    forwarded = []
    client.message_cb = lambda t, p, retained: forwarded.append(t)
    r = rep.Reporter(client, ob, DEV, now=lambda: 1700000000,
                     fleet_ack_ms=int(sys.argv[2]))
    r.route(client)
    for i in range(int(sys.argv[3])):
        r.record_scan(1631000000 + i, True, bytes([i & 0xFF]) * 16, True, 0)
    asyncio.create_task(r.run())
    stdin = asyncio.StreamReader(sys.stdin)
    while True:
        line = await stdin.readline()
        if not line:
            break
        cmd = json.loads(line)
        op = cmd["op"]
        ok = True
        if op == "msg":
            client.message_cb(cmd["topic"], unhexlify(cmd["hex"]), False)
        elif op == "wait_scans":
            ok = await until(lambda: len(scan_batches(client)) >= cmd["n"])
        elif op == "connect":
            r.on_connect(client)
        elif op == "jitter":
            print(json.dumps([rep._jitter(cmd["ms"]) for _ in range(cmd["n"])]))
            continue
        print(json.dumps({"ok": ok, "acked": ob.acked, "depth": ob.depth,
                          "ignored": r.ignored_acks, "reported": r.reported,
                          "resends": r.resends, "wait": r._ack_wait,
                          "batches": scan_batches(client), "forwarded": forwarded,
                          "subs": client.subs, "state": hexlify(rep.encode_state(
                              r.state_fields())).decode()}))


asyncio.run(main())
