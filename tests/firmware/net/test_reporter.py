"""Reporter encoding under real MicroPython, decoded with cbor2: scan
records, batches (docs/protocol.md 4.1) within the size limits, state and
Last Will (4.2)."""

from __future__ import annotations

import json
from pathlib import Path

import cbor2

from mpy import run_micropython

ACK_DRIVER = Path(__file__).resolve().parent / "ack_driver.py"
DEV = "gg-0000000000b1"
ACK = f"gg/v1/dev/{DEV}/ack"

SCRIPT = r"""
import json, sys
from binascii import hexlify
from store.outbox import Outbox
from net import reporter as rep
from net.client import MQTTClient

out = {}
ob = Outbox(sys.argv[1], capacity=256, segment_records=32)
client = MQTTClient("gg-000000000001", "127.0.0.1", 1)   # never started
r = rep.Reporter(client, ob, "gg-000000000001", now=lambda: 1700000000,
                 state_provider=lambda: {2: "1.0", 6: True})
seqs = []
for i in range(70):
    h = None if i % 10 == 9 else bytes([i]) * 16
    seqs.append(r.record_scan(1631000000 + i, i % 2 == 0, h, i % 3 != 0, i % 30))
out["seqs"] = seqs
batches = []
for max_bytes in (1024, 300, 40):
    r.max_bytes = max_bytes
    payload, last = r._next_batch()
    batches.append([hexlify(payload).decode(), last, max_bytes])
out["batches"] = batches
out["state"] = hexlify(rep.encode_state(r.state_fields())).decode()
t, p, q, retain = rep.last_will("gg-000000000001")
out["will"] = [t, hexlify(p).decode(), q, retain]
print(json.dumps(out))
"""


def test_batches_state_and_will(tmp_path):
    r = run_micropython(SCRIPT, args=[str(tmp_path / "ob")])
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout)
    assert out["seqs"] == list(range(1, 71))
    sizes = []
    for hexpayload, last, max_bytes in out["batches"]:
        payload = bytes.fromhex(hexpayload)
        batch = cbor2.loads(payload)
        assert batch[1] == "gg-000000000001" and batch[3] == 1700000000
        scans = batch[2]
        assert scans[0][0] == 1 and scans[-1][0] == last
        assert 1 <= len(scans) <= 30
        if len(scans) > 1:
            assert len(payload) <= max_bytes
        for seq, t, tv, h, verdict, reason in scans:
            i = seq - 1
            assert t == 1631000000 + i and tv is (i % 2 == 0)
            assert h == (None if i % 10 == 9 else bytes([i]) * 16)
            assert verdict is (i % 3 != 0) and reason == i % 30
        sizes.append(len(scans))
    assert sizes[0] == 30 and sizes[0] > sizes[1] > sizes[2] == 1
    # 14: reporting protocol level 2, records leave only on a fleet ack
    assert cbor2.loads(bytes.fromhex(out["state"])) == {1: True, 2: "1.0", 4: 70, 5: 0, 6: True,
                                                        14: 2}
    assert out["will"] == ["gg/v1/dev/gg-000000000001/state", "a101f4", 1, True]


def run_steps(tmp_path, steps: list[dict], fleet_ack_ms: int, scans: int = 70) -> list:
    stdin = "".join(json.dumps(s) + "\n" for s in steps)
    r = run_micropython(ACK_DRIVER, stdin=stdin,
                        args=[str(tmp_path / "ob"), str(fleet_ack_ms), str(scans)])
    assert r.returncode == 0, r.stderr.decode()
    out = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(out) == len(steps), (out, r.stderr.decode())
    return out


def msg(payload: bytes, topic: str = ACK) -> dict:
    return {"op": "msg", "topic": topic, "hex": payload.hex()}


def ack(first, last) -> bytes:
    return cbor2.dumps({1: first, 2: last})


# Hostile or malformed ack payloads: none may move the outbox or crash it.
GARBAGE = [
    b"", b"\xa2", b"\xff" * 10, b"\xa2\x01\x01",                 # empty, cut short, junk
    cbor2.dumps({1: 1}), cbor2.dumps({1: 1, 2: 30, 3: 0}),      # a key missing / extra
    cbor2.dumps({1: -1, 2: 30}), cbor2.dumps({1: "1", 2: 30}),  # negative, wrong type
    cbor2.dumps({1: 1.0, 2: 30.0}), cbor2.dumps([1, 30]),       # floats, an array
    cbor2.dumps({1: 1, 2: 2**40}),                               # beyond a u32
    ack(1, 30) + b"\x00",                                        # trailing byte
    b"\xa2\x01\x01\x01\x1e",                                     # key 1 twice
    b"\xa2\x01\x1a\x00\x00\x00",                                 # uint cut short
    b"\xa2\x01\x1f\x02\x1e", b"\xa2\x01\x1c\x02\x1e",            # reserved uint sizes
    cbor2.dumps({2: 30, 1: 1}).replace(b"\x02\x18\x1e", b"\x03\x18\x1e"),
]


def test_ack_topic_routing_and_hostile_acks(tmp_path):
    steps = [{"op": "wait_scans", "n": 1}]                        # 0: batch 1..30 sent, PUBACKed
    steps += [msg(p) for p in GARBAGE]                            # garbage
    n = len(steps)
    steps += [msg(ack(1, 31)),                                    # n: beyond the highest sent
              msg(ack(2, 30)),                                    # n+1: leaves a gap (2 > acked+1)
              msg(ack(1, 30), "gg/v1/dev/gg-0000000000b2/ack"),   # n+2: another device's topic
              msg(b"\x01", f"gg/v1/dev/{DEV}/cmd"),               # n+3: a control topic
              msg(ack(1, 10)),                                    # n+4: partial: taken
              msg(ack(1, 5)),                                     # n+5: stale: ignored
              msg(ack(3, 30)),                                    # n+6: duplicates 3..10 too: taken
              {"op": "wait_scans", "n": 2}]                       # n+7: then the next batch
    out = run_steps(tmp_path, steps, fleet_ack_ms=600000)
    first = out[0]
    assert first["batches"] == [[1, 30]] and first["acked"] == 0 and first["depth"] == 70
    assert [ACK, 0] in first["subs"]  # the device subscribes to its own ack topic, QoS 0
    for i, snap in enumerate(out[1:n + 2], start=1):
        # PUBACK deleted nothing; no garbage / forged / out-of-range ack did
        assert snap["acked"] == 0 and snap["depth"] == 70, (i, steps[i], snap)
        assert snap["ignored"] == i, (i, steps[i], snap)
    assert out[n + 1]["ignored"] == n + 1
    # other topics go on to the control link, never to the reporter
    assert out[n + 3]["forwarded"] == ["gg/v1/dev/gg-0000000000b2/ack", f"gg/v1/dev/{DEV}/cmd"]
    assert out[n + 3]["acked"] == 0 and out[n + 3]["ignored"] == n + 1
    assert out[n + 4]["acked"] == 10 and out[n + 4]["depth"] == 60 and out[n + 4]["reported"] == 10
    assert out[n + 5]["acked"] == 10 and out[n + 5]["ignored"] == n + 2
    assert out[n + 6]["acked"] == 30 and out[n + 6]["depth"] == 40
    assert out[n + 7]["batches"] == [[1, 30], [31, 60]] and out[n + 7]["resends"] == 0
    assert cbor2.loads(bytes.fromhex(out[-1]["state"]))[14] == 2


def test_unacked_batch_resent_after_timeout_with_doubling_wait(tmp_path):
    out = run_steps(tmp_path, [
        {"op": "wait_scans", "n": 4},   # sent once, then 3 times for want of an ack
        msg(ack(1, 30)),
        {"op": "wait_scans", "n": 5},
    ], fleet_ack_ms=100)
    assert out[0]["batches"][:4] == [[1, 30]] * 4 and out[0]["acked"] == 0
    assert out[0]["resends"] >= 3 and out[0]["wait"] == min(100 << out[0]["resends"], 120000)
    assert out[1]["acked"] == 30 and out[1]["wait"] == 100  # a valid ack resets the wait
    assert out[2]["batches"][-1] == [31, 60]


def test_unacked_batch_resent_at_once_after_reconnect(tmp_path):
    # a 10-minute ack wait: a second send within the test's deadline can
    # only come from the reconnect
    out = run_steps(tmp_path, [{"op": "wait_scans", "n": 1}, {"op": "connect"},
                               {"op": "wait_scans", "n": 2}], fleet_ack_ms=600000)
    assert out[2]["ok"] and out[2]["batches"] == [[1, 30], [1, 30]]
    assert out[2]["resends"] == 0 and out[2]["acked"] == 0 and out[2]["depth"] == 70


def test_resend_wait_jitter_within_20_percent(tmp_path):
    r = run_micropython(ACK_DRIVER, stdin=json.dumps({"op": "jitter", "ms": 120000, "n": 200}) + "\n",
                        args=[str(tmp_path / "ob"), "1000", "0"])
    assert r.returncode == 0, r.stderr.decode()
    samples = json.loads(r.stdout.decode().splitlines()[0])
    assert all(96000 <= s <= 144000 for s in samples)
    assert len(set(samples)) > 50  # random, not a fixed offset


def test_ack_after_the_ring_dropped_records(tmp_path):
    # 300 scans in a 256-record ring (segments of 32): the oldest segments
    # were erased unsent (counted in dropped); the first batch starts at the
    # floor, and the fleet's ack of it (it never saw seqs 1..floor-1) is taken
    out = run_steps(tmp_path, [{"op": "wait_scans", "n": 1}], fleet_ack_ms=600000, scans=300)
    first, last = out[0]["batches"][0]
    assert first > 1 and out[0]["acked"] == 0
    out = run_steps(tmp_path, [{"op": "wait_scans", "n": 1}, msg(ack(1, first - 1)),
                               msg(ack(first, last)), {"op": "wait_scans", "n": 2}],
                    fleet_ack_ms=600000, scans=0)
    assert out[1]["acked"] == 0 and out[1]["ignored"] == 1  # below the floor: nothing to take
    assert out[2]["acked"] == last and out[2]["ignored"] == 1
    assert out[3]["batches"][-1][0] == last + 1
