"""The fleet benchmarks at toy scale, so they don't rot (no timing asserted:
numbers belong in docs/fleet-benchmarks.md), plus the simulator's protocol
behaviour against a real mosquitto: it must refuse what a gate refuses."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time

import cbor2
import pytest
from sqlalchemy.engine import make_url

from mpy import REPO

BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import devsim  # noqa: E402

PG_URL = os.environ.get("GREENGATE_TEST_PG_URL")


def run_bench(script: str, *args: str) -> str:
    r = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout}\n{r.stderr[-3000:]}"
    return r.stdout


def field(out: str, name: str) -> str:
    m = re.search(rf"\b{name}=(\S+)", out)
    assert m, f"{name} missing in {out!r}"
    return m.group(1)


DBS = ["sqlite", pytest.param("pg", marks=pytest.mark.skipif(not PG_URL, reason="GREENGATE_TEST_PG_URL not set"))]


def db_arg(kind: str) -> str:
    if kind == "sqlite":
        return "sqlite"
    return make_url(PG_URL).set(database="greengate_bench_smoke").render_as_string(hide_password=False)


@pytest.mark.parametrize("db", DBS)
def test_ingest_bench_exactly_once_at_toy_scale(db):
    # 20 gates x 120 events = 4 batches each, every 2nd sent twice; two workers share $share/greengate
    out = run_bench("bench_fleet_ingest.py", "--db", db_arg(db), "--events", "2400", "--devices", "20",
                    "--dup-every", "2", "--workers", "2", "--timeout", "60")
    assert field(out, "stored") == field(out, "distinct") == "2400"
    assert field(out, "exactly_once") == "True" and field(out, "per_gate_complete") == "True"
    assert field(out, "messages") == "120"  # 80 batches + 40 re-sends
    assert field(out, "workers") == "2"


def test_delta_bench_at_toy_scale():
    out = run_bench("bench_fleet_delta.py", "--devices", "20", "--revoked", "50", "--timeout", "60")
    assert field(out, "devices_applied") == "20"
    assert field(out, "fleet_db_all") != "NO" and field(out, "devices_all") != "NO"
    assert field(out, "verified") == "20" and field(out, "chunks") == "20"  # 1-chunk delta, each gate


def test_ctrl_codes_match_the_firmware():
    text = (REPO / "firmware" / "verify" / "reasons.py").read_text()
    for name in ("CTRL_UNSIGNED", "CTRL_SIGNATURE", "CTRL_ROLLBACK", "CTRL_REPLAY", "CTRL_EXPIRED",
                 "CTRL_MALFORMED", "CTRL_SCOPE"):
        assert int(re.search(rf"^{name} = const\((\d+)\)", text, re.M).group(1)) == getattr(devsim, name)


def test_scan_batches_are_what_the_bridge_decodes():
    from fleet.broker_bridge import wire

    d = devsim.device_id(7)
    rows = wire.decode_scan_batch(d, devsim.scan_batch(d, 100, 30, now=1_700_000_000))
    assert [r["seq"] for r in rows] == list(range(100, 130))
    assert all(len(r["pass_hash"]) == 32 and r["verdict"] is True and r["reason"] == 0 for r in rows)


def test_simulated_gate_applies_only_what_a_gate_applies(mosquitto_broker):
    """Signed revocation manifests through a real broker: a good one with a
    delta blob is fetched (chunked, window 16) and applied; a re-delivery is a
    no-op; a wrong key, an older version, a foreign site and an expired one
    are refused with the firmware's CTRL_* codes and reported in the state."""
    from greengate.control import blobs, envelope
    from greengate.passes import keys as gk

    key, other = gk.generate(), gk.generate()
    delta = os.urandom(40 * 768 + 5)  # 41 chunks: three fetch windows
    snapshot = b"GGRV-preloaded"
    now = int(time.time())

    def manifest(version, k=key, scope=None, valid=3600):
        body = {1: blobs.blob_ref(snapshot), 2: blobs.blob_ref(delta)}
        return envelope.sign_message(3, version, body, scope or envelope.fleet_scope(), k, now, now + valid)

    async def scenario():
        import paho.mqtt.client as mqtt

        fleet = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-test")
        fleet.connect("127.0.0.1", mosquitto_broker.port)
        fleet.loop_start()
        dev = devsim.device_id(1)
        states, fetches = [], []

        def on_message(_c, _u, msg):
            if msg.topic.endswith("/fetch"):  # answer like the bridge does
                fetches.append(msg.payload)
                req = blobs.parse_fetch(msg.payload)
                for chunk in blobs.answer_fetch(req, delta):
                    fleet.publish(f"gg/v1/dev/{dev}/blob", chunk, qos=1)
            elif msg.topic.endswith("/state"):
                states.append(cbor2.loads(msg.payload))
        fleet.on_message = on_message
        fleet.subscribe([(f"gg/v1/dev/{dev}/fetch", 1), (f"gg/v1/dev/{dev}/state", 1)])
        time.sleep(0.3)
        sim = devsim.DeviceSim("127.0.0.1", mosquitto_broker.port, [dev],
                               fleet_keys=[envelope.raw_public(key)], site_of=lambda _d: "7",
                               preload=[snapshot])
        await sim.connect_all(timeout=10)
        gate = sim.devices[dev]

        async def until(pred, timeout=10.0):
            t = time.monotonic()
            while not pred():
                assert time.monotonic() - t < timeout, "timed out"
                await asyncio.sleep(0.02)

        def send(data):
            fleet.publish(devsim.REVOCATION, data, qos=1, retain=True).wait_for_publish(5)
        try:
            good = manifest(5)
            send(good)
            await until(lambda: gate.applied.get(3) == 5)
            assert len(fetches) == 3 and sim.stats.chunks == 41 and sim.blobs[blobs.blob_ref(delta)[1]] == delta
            await until(lambda: any(s[3].get(3) == 5 for s in states))
            send(good)  # identical bytes: no-op, nothing verified
            await until(lambda: sim.stats.noops == 1)
            for bad, code in ((manifest(6, k=other), devsim.CTRL_SIGNATURE), (manifest(4), devsim.CTRL_ROLLBACK),
                              (manifest(5, valid=7200), devsim.CTRL_REPLAY),
                              (manifest(7, scope=envelope.site_scope("8")), devsim.CTRL_SCOPE),
                              (envelope.sign_message(3, 8, {1: blobs.blob_ref(snapshot), 2: None},
                                                     envelope.fleet_scope(), key, now - 100, now - 50),
                               devsim.CTRL_EXPIRED),
                              (b"\x00not cose", devsim.CTRL_UNSIGNED)):
                send(bad)
                await until(lambda: gate.last_error is not None and gate.last_error[1] == code)
                await until(lambda: states and states[-1][12] is not None and states[-1][12][1] == code)
                assert gate.applied[3] == 5
            send(manifest(9, scope=envelope.site_scope("7")))  # site-scoped to our site: fine, blobs on flash
            await until(lambda: gate.applied.get(3) == 9)
            assert len(fetches) == 3  # nothing fetched again
        finally:
            await sim.close()
            fleet.loop_stop()
            fleet.disconnect()

    asyncio.run(scenario())


def test_mqtt_framing_survives_any_split():
    """Packets cut anywhere by TCP (inside the length varint too) or glued
    together come out whole and in order."""
    class Sink:
        def __init__(self):
            self.got = []

        def _on_packet(self, first, body):
            self.got.append((first, body))

    big = devsim.publish_packet("gg/v1/fleet/revocation", bytes(range(256)) * 2, 1, True, pid=7)
    small = b"\x40\x02\x00\x07"  # PUBACK 7
    stream = big + small + big
    for step in (1, 2, 3, 7, len(stream)):
        sink = Sink()
        conn = devsim._Conn(sink)
        for i in range(0, len(stream), step):
            conn.data_received(stream[i:i + step])
        assert [f for f, _ in sink.got] == [0x33, 0x40, 0x33]
        assert sink.got[0][1] == big[3:] and sink.got[1][1] == b"\x00\x07" and not conn.buf
