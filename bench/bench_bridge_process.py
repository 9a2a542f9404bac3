"""Where the broker bridge's CPU goes, per device message, without a broker:
Bridge.process_messages() (the bridge's own transaction code) on batches of
100 messages of one kind, as mosquitto's max_inflight_messages 100 hands them
to a manually-acknowledging worker.

    python3 bench/bench_bridge_process.py                 # SQLite
    python3 bench/bench_bridge_process.py --db pg         # PostgreSQL (greengate_bench, recreated)

process_messages() includes the schema checks (schema.py) and the end-to-end
ack publish after the commit (the client is not connected: paho builds the
message and refuses it, most of the ack's CPU cost).
Kinds: a scan batch (30 scans), a device state (the answer to a new
revocation: applied versions changed), a blob fetch (answered with one chunk;
the broker client is not connected, so paho only queues the chunk).
"bridge CPU" is this process only (not the database server): steadier than
wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_rig  # noqa: E402

import cbor2  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402

import devsim  # noqa: E402
from fleet.broker_bridge.bridge import Bridge, BrokerParams  # noqa: E402
from fleet.services import control  # noqa: E402
from greengate.control import blobs  # noqa: E402


def message(topic: str, payload: bytes, mid: int) -> mqtt.MQTTMessage:
    m = mqtt.MQTTMessage(mid, topic.encode())
    m.payload = payload
    m.qos = 1
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="sqlite")
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gg-bench-bridge-"))
    try:
        db_url = fleet_rig.fresh_db(a.db, tmp)
        engine, sessions, _ = fleet_rig.seed(db_url, a.devices, devsim.device_id)
        with sessions() as db:
            delta_sha = control.store_blob(db, "delta", b"GGRD" + bytes(12) + hashlib.sha256(b"x").digest()[:16])
            db.commit()
        delta = bytes.fromhex(delta_sha)
        bridge = Bridge(sessions, BrokerParams(port=1), None, client_id="bench-process", publish=False)
        ids = [devsim.device_id(i) for i in range(a.devices)]
        now = int(time.time())
        kinds = {
            "scan batch (30 scans)": lambda d, i: (f"gg/v1/dev/{d}/scans", devsim.scan_batch(d, i * 30, 30, now)),
            "device state": lambda d, i: (f"gg/v1/dev/{d}/state", cbor2.dumps(
                {1: True, 2: "devsim", 3: {1: 5, 3: 1000 + i}, 4: 0, 5: 0, 6: True, 8: now})),
            "blob fetch (1 chunk answered)": lambda d, i: (f"gg/v1/dev/{d}/fetch", cbor2.dumps(
                {1: delta, 2: 0, 3: blobs.MAX_WINDOW})),
        }
        bridge.process_messages([message(*kinds["device state"](d, 0), 1) for d in ids[:1]])  # warm up
        db_name = engine.dialect.name
        for name, make in kinds.items():
            msgs = [message(*make(d, r), n) for r in range(2) for n, d in enumerate(ids)]
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(msgs), a.batch):
                bridge.process_messages(msgs[i:i + a.batch])
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"db={db_name} {name}: {len(msgs)} messages in batches of {a.batch}: "
                  f"{dt / len(msgs) * 1e6:,.0f} us/message wall, {cpu / len(msgs) * 1e6:,.0f} us bridge CPU "
                  f"({len(msgs) / dt:,.0f} messages/s)")
        bridge.client.loop_stop()
        engine.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
