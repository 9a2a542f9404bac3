"""Reporter encoding under real MicroPython, decoded with cbor2: scan
records, batches (docs/protocol.md 4.1) within the size limits, state and
Last Will (4.2)."""

from __future__ import annotations

import json

import cbor2

from mpy import run_micropython

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
    assert cbor2.loads(bytes.fromhex(out["state"])) == {1: True, 2: "1.0", 4: 70, 5: 0, 6: True}
    assert out["will"] == ["gg/v1/dev/gg-000000000001/state", "a101f4", 1, True]
