"""Outbox and reporting throughput under the MicroPython unix port.

    python3 bench/bench_outbox.py [--records 5000]

1. append: records/s of Outbox.append() for 22-byte scan records (each one
   flushed to the file system before append returns).
2. drain (local): pending() + ack() without a network, records/s.
3. drain to mosquitto: a pre-filled outbox drained by the real Reporter and
   MQTTClient into a local Debian mosquitto (QoS 1, ~1 KiB batches, one
   batch in flight), records/s and batches/s. A record leaves the outbox
   only on the fleet's ack (docs/protocol.md 4.4): a paho client here plays
   the fleet and acks each batch the moment it arrives (no database), so
   this is the gate's side of the round trip.
An ESP32 is roughly 70x slower on CPU-bound work and its flash writes cost
milliseconds: see docs/outbox-and-mqtt.md for what that means for a gate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from brokers import mosquitto  # noqa: E402
from mpy import MICROPYTHON, mpy_env  # noqa: E402

SCRIPT = r"""
import asyncio, json, sys, time
from store.outbox import Outbox
from net.client import MQTTClient
from net import reporter as rep

with open(sys.argv[1]) as f:
    cfg = json.load(f)
n = cfg["records"]
out = {}
buf = bytearray(22)

ob = Outbox(cfg["dir"] + "/a", capacity=max(2048, 2 * n), segment_records=128)
t = time.ticks_us()
for i in range(n):
    ob.append(rep.pack_scan(buf, 1631000000 + i, True, b"0123456789abcdef", True, 0))
out["append_per_s"] = n * 1000000 // time.ticks_diff(time.ticks_us(), t)

t = time.ticks_us()
done = 0
while True:
    recs = ob.pending(24, 1024)
    if not recs:
        break
    ob.ack(recs[-1][0])
    done += len(recs)
out["local_drain_per_s"] = done * 1000000 // time.ticks_diff(time.ticks_us(), t)

ob2 = Outbox(cfg["dir"] + "/b", capacity=max(2048, 2 * n), segment_records=128)
for i in range(n):
    ob2.append(rep.pack_scan(buf, 1631000000 + i, i % 2 == 0, b"0123456789abcdef", i % 3 != 0, 12))

async def drain():
    client = MQTTClient("bench", "127.0.0.1", cfg["port"], keepalive=30)
    r = rep.Reporter(client, ob2, "bench-gate")
    client.connect_cb = r.on_connect
    r.route(client)
    client.start()
    await client.wait_connected()
    t = time.ticks_us()
    task = asyncio.create_task(r.run())
    while ob2.depth:
        await asyncio.sleep_ms(1)
    dt = time.ticks_diff(time.ticks_us(), t)
    out["mqtt_drain_per_s"] = n * 1000000 // dt
    out["mqtt_batches_per_s"] = r.batches * 1000000 // dt
    out["records_per_batch"] = n // max(1, r.batches)
    task.cancel()
    await client.stop()

asyncio.run(drain())
print(json.dumps(out))
"""


def run(records: int, outbox_dir: Path, port: int, tmp_path: Path) -> dict:
    script = tmp_path / "bench.py"
    script.write_text(SCRIPT)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"dir": str(outbox_dir), "records": records, "port": port}))
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=4m", str(script), str(cfg)],
                       capture_output=True, text=True, env=mpy_env(), timeout=600)
    if r.returncode:
        sys.exit(f"benchmark failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# GG_BENCH_NODELAY=0: mosquitto's default (Nagle on): the fleet's ack waits
# behind the PUBACK for the gate's delayed TCP ACK (~40 ms per batch)
BROKER_CONF = "" if os.environ.get("GG_BENCH_NODELAY") == "0" else "set_tcp_nodelay true\n"


def acking_fleet(port: int):
    """A paho client that acks every scan batch of bench-gate at once."""
    import threading

    import cbor2
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-fleet")
    subscribed = threading.Event()

    def on_message(client, userdata, msg):
        seqs = [s[0] for s in cbor2.loads(msg.payload)[2]]
        client.publish("gg/v1/dev/bench-gate/ack", cbor2.dumps({1: min(seqs), 2: max(seqs)}), qos=0)

    c.on_message = on_message
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect("127.0.0.1", port)
    import socket

    c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the bridge should
    c.subscribe("gg/v1/dev/bench-gate/scans", qos=1)
    c.loop_start()
    if not subscribed.wait(10):
        sys.exit("fleet: no SUBACK")
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5000)
    args = ap.parse_args()
    print(f"records: {args.records} (22-byte scan records, MicroPython unix port)")
    # flush() on the unix port is an fsync: on a disk every append waits for
    # it (the durable case); tmpfs shows the CPU cost alone.
    places = [("disk (fsync per append)", None)]
    if Path("/dev/shm").is_dir():
        places.append(("tmpfs (CPU cost only)", Path("/dev/shm")))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        broker = mosquitto(tmp_path / "broker", extra_conf=BROKER_CONF).start()
        fleet = acking_fleet(broker.port)
        try:
            for label, base in places:
                with tempfile.TemporaryDirectory(dir=base) as d:
                    res = run(args.records, Path(d), broker.port, tmp_path)
                print(f"[{label}]")
                print(f"  outbox append:           {res['append_per_s']:>8} records/s")
                print(f"  outbox drain (no net):   {res['local_drain_per_s']:>8} records/s")
                print(f"  drain to mosquitto QoS1: {res['mqtt_drain_per_s']:>8} records/s "
                      f"({res['mqtt_batches_per_s']} batches/s, "
                      f"{res['records_per_batch']} records/batch)")
        finally:
            fleet.loop_stop()
            fleet.disconnect()
            broker.stop()


if __name__ == "__main__":
    main()
