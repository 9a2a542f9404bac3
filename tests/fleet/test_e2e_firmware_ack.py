"""Issue 10, end to end with the real firmware (MicroPython unix port under
`greengate sim`), mosquitto from the configuration `greengate fleet
broker-config` generates (dynamic-security rights, the gate's own
credentials), the real bridge and a real database (SQLite and PostgreSQL).

The gate scans while no fleet is running: the broker accepts (PUBACKs) every
batch, but the gate keeps its records and sends the same batch again, also
after mosquitto is killed (-9) and started again. Only once the bridge has
committed the scans and acked them does the outbox drain: every scan is
stored exactly once and the gate reports an empty outbox (state key 4 = 0)
under reporting protocol 2 (key 14)."""

from __future__ import annotations

import json
import threading

import cbor2
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge import topics
from fleet.broker_bridge.bridge import Bridge, BrokerParams, make_client
from fleet.models import Device, Scan
from fleet_helpers import dev_id, seed_registry, wait_until
from greengate.sim.terminal import SimTerminal
from ingest_rig import BRIDGE_PW, bridge_params, kill_broker, start_generated

pytestmark = pytest.mark.slow
DEV = dev_id(0xAC0)
SCANS = 6


class Watcher:
    """A fleet account (not the bridge: it acks nothing) that counts every
    copy of each scan seq the gate publishes."""

    def __init__(self, port: int) -> None:
        self.copies: dict[int, int] = {}
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.c = make_client(BrokerParams(port=port, username=mc.bridge_users(2)[1],
                                          password=BRIDGE_PW), mc.bridge_users(2)[1],
                             clean_session=True)
        self.c.on_connect = lambda cl, *a: cl.subscribe(topics.scans(DEV), 1)
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.on_message = self._on_message
        self.c.reconnect_delay_set(0.1, 1)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.subscribed.wait(20), "watcher not subscribed"

    def _on_message(self, _c, _u, msg) -> None:  # noqa: ANN001
        for scan in cbor2.loads(msg.payload)[2]:
            with self.lock:
                self.copies[scan[0]] = self.copies.get(scan[0], 0) + 1

    def snapshot(self) -> dict[int, int]:
        with self.lock:
            return dict(self.copies)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_outbox_drains_only_on_the_fleets_ack(tmp_path, session_factory):
    sessions = session_factory
    with sessions() as db:
        _, pws = seed_registry(db, (DEV,))
    broker = start_generated(tmp_path, sessions)
    root = tmp_path / "sim"
    (root / "flash").mkdir(parents=True)
    (root / "flash" / "config.json").write_text(json.dumps({
        "device_id": DEV, "fleet_ack_ms": 1000,
        "broker": {"user": DEV, "password": pws[DEV]}}))
    watcher = Watcher(broker.port)
    bridge = None
    try:
        with SimTerminal(root, device_id=DEV, broker=f"mqtt://127.0.0.1:{broker.port}") as sim:
            sim.wait_for(lambda e: e.get("kind") == "scanner" and e.get("state") == "ready", timeout=60)
            for i in range(SCANS):  # not passes: each is decided (PREFIX) and recorded
                n = len(sim.events())
                sim.scan(f"NOT-A-PASS-{i:03d}")
                sim.wait_for(lambda e: e.get("kind") == "decision", after=n, timeout=30)
            # the broker took every batch, nobody acked: each seq is sent again
            wait_until(lambda: len(w := watcher.snapshot()) == SCANS and min(w.values()) >= 2,
                       timeout=90)

            kill_broker(broker)  # no fleet, no broker: the records stay on the gate
            broker.start()
            seen = watcher.snapshot()
            wait_until(lambda: all(watcher.snapshot()[s] > seen[s] for s in seen), timeout=120)
            with sessions() as db:
                assert db.scalar(select(func.count()).select_from(Scan)) == 0

            bridge = Bridge(sessions, bridge_params(broker.port), None, publish=False).start()

            def drained() -> bool:
                with sessions() as db:
                    dev = db.get(Device, DEV)
                    return dev is not None and dev.online and dev.outbox_depth == 0
            wait_until(lambda: stored(sessions) == SCANS and drained(), timeout=120)
            with sessions() as db:
                seqs = db.scalars(select(Scan.seq).where(Scan.device_id == DEV).order_by(Scan.seq)).all()
            assert seqs == list(range(1, SCANS + 1))  # exactly once each
            # acked: no more copies once drained (give it a few ack timeouts)
            settled = watcher.snapshot()
            n = len(sim.events())
            sim.scan("NOT-A-PASS-LAST")
            sim.wait_for(lambda e: e.get("kind") == "decision", after=n, timeout=30)
            wait_until(lambda: stored(sessions) == SCANS + 1 and drained(), timeout=60)
            after = watcher.snapshot()
            assert {s: after[s] for s in settled} == settled, "acked records were sent again"
    finally:
        watcher.close()
        if bridge is not None:
            bridge.stop()
        broker.stop()


def stored(sessions) -> int:  # noqa: ANN001
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Scan).where(Scan.device_id == DEV))
