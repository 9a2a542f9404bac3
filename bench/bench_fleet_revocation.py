"""Benchmark: time until N simulated gates hold a new revocation delta.

    python3 bench/bench_fleet_revocation.py --devices 10000
    python3 bench/bench_fleet_revocation.py --devices 2000 --db postgresql://...

N lightweight gates (paho clients driven by one selector loop, no thread
each) connect to mosquitto, subscribe to the retained revocation manifest and
their blob topic like the firmware does, and record the manifest they start
with. The clock starts when an operator's revocation is committed (the
service call the API makes); a gate counts as done when it has received the
newer signed manifest, fetched the delta blob it references in chunks from
the bridge, and checked the blob's SHA-256 (flash writes on a real ESP32 are
not part of this). Target (issue 4): 10,000 gates in <= 10 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import cbor2  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from sqlalchemy import text  # noqa: E402

from brokers import mosquitto  # noqa: E402
from fleet.broker_bridge import topics  # noqa: E402
from fleet.broker_bridge.simulator import device_id  # noqa: E402
from fleet.broker_bridge.wire import load_or_create_fleet_key  # noqa: E402
from fleet.core.config import normalise_db_url  # noqa: E402
from fleet.core.db import make_engine, make_sessionmaker  # noqa: E402
from fleet.models import Base, Device  # noqa: E402
from fleet.services import revocations  # noqa: E402


class Gate:
    def __init__(self, dev: str, port: int) -> None:
        self.dev = dev
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=dev, clean_session=True)
        self.c.on_connect = self.on_connect
        self.c.on_message = self.on_message
        self.port = port
        self.subscribed = False
        self.baseline: int | None = None
        self.want: bytes | None = None
        self.chunks: dict[int, bytes] = {}
        self.got_manifest_at: float | None = None
        self.done_at: float | None = None

    def on_connect(self, c, u, f, rc, p) -> None:  # noqa: ANN001
        c.subscribe([(topics.REVOCATION, 1), (topics.blob(self.dev), 1)])

    def on_message(self, c, u, msg) -> None:  # noqa: ANN001
        if msg.topic == topics.REVOCATION:
            payload = cbor2.loads(cbor2.loads(msg.payload).value[2])
            version = payload[2]
            if self.baseline is None:
                self.baseline = version
                return
            if version > self.baseline and self.want is None and payload[6][2] is not None:
                self.got_manifest_at = time.perf_counter()
                ref = payload[6][2]
                self.want, self.size, self.chunk = ref[1], ref[2], ref[3]
                c.publish(topics.fetch(self.dev), cbor2.dumps({1: self.want, 2: 0, 3: 16}), qos=1)
        elif self.want is not None and self.done_at is None:
            m = cbor2.loads(msg.payload)
            if m[1] == self.want[:8]:
                self.chunks[m[2]] = m[4]
                if len(self.chunks) == m[3]:
                    data = b"".join(self.chunks[i] for i in range(m[3]))
                    if hashlib.sha256(data).digest() == self.want:
                        self.done_at = time.perf_counter()


class Loop(threading.Thread):
    """One selector loop drives every client (paho's external-loop API)."""

    def __init__(self, gates: list[Gate]) -> None:
        super().__init__(daemon=True)
        self.gates, self.stop = gates, threading.Event()
        self.sel = selectors.DefaultSelector()
        for g in gates:
            self.sel.register(g.c.socket(), selectors.EVENT_READ, g)

    def run(self) -> None:
        last_misc = 0.0
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.05):
                key.data.c.loop_read()
            for g in self.gates:
                if g.c.want_write():
                    g.c.loop_write()
            if time.monotonic() - last_misc > 1.0:
                for g in self.gates:
                    g.c.loop_misc()
                last_misc = time.monotonic()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--db", default="")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # mosquitto inherits it
    tmp = Path(tempfile.mkdtemp(prefix="gg-bench-rev-"))
    db_url = normalise_db_url(a.db) if a.db else f"sqlite:///{tmp / 'fleet.db'}"
    engine = make_engine(db_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    devs = [device_id(i) for i in range(a.devices)]
    with sessions() as db:
        db.add_all(Device(id=d, public_key="00" * 32, mqtt_username=d, mqtt_password_hash="x") for d in devs)
        db.commit()
    broker = mosquitto(tmp / "mq").start()
    load_or_create_fleet_key(tmp / "fleet.key", create=True)  # the bridge process reads it
    # the bridge in its own process, as in production (and off the simulator's GIL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO)] + sys.path)}
    bridge = subprocess.Popen([sys.executable, "-m", "fleet.broker_bridge", "--db", db_url,
                               "--broker", f"mqtt://127.0.0.1:{broker.port}", "--client-id", "fleet-bridge-1",
                               "--fleet-key", str(tmp / "fleet.key"), "--poll-s", "0.02"],
                              env=env, stdout=subprocess.PIPE, text=True)
    bridge.stdout.readline()
    gates = [Gate(d, broker.port) for d in devs]
    t_conn = time.perf_counter()
    for g in gates:
        g.c.connect("127.0.0.1", broker.port, keepalive=600)
    loop = Loop(gates)
    loop.start()
    while sum(g.baseline is not None for g in gates) < len(gates):
        time.sleep(0.05)
    connected_s = time.perf_counter() - t_conn
    t0 = time.perf_counter()
    with sessions() as db:
        revocations.revoke(db, hashlib.sha256(b"f0").hexdigest()[:32], "F0", "bench")
        db.commit()
    deadline = time.monotonic() + 300
    while sum(g.done_at is not None for g in gates) < len(gates) and time.monotonic() < deadline:
        time.sleep(0.01)
    done = sorted(g.done_at - t0 for g in gates if g.done_at is not None)
    manifests = sorted(g.got_manifest_at - t0 for g in gates if g.got_manifest_at is not None)
    loop.stop.set()
    bridge.terminate()
    bridge.wait()
    broker.stop()
    ok = len(done) == len(gates)
    pct = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")  # noqa: E731
    print(f"db={engine.dialect.name} gates={len(gates)} connected+baseline in {connected_s:.1f}s; "
          f"manifest received by all: {manifests[-1] if manifests else float('nan'):.2f}s; "
          f"delta applied (fetched + SHA-256 checked): p50={pct(done, .5):.2f}s "
          f"p95={pct(done, .95):.2f}s all={done[-1] if ok else float('nan'):.2f}s ok={ok}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
