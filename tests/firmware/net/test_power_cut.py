"""Power cuts while scanning: the real outbox + reporter + MQTT client under
MicroPython, SIGKILLed at random moments during 1,000 scans and restarted
each time, reporting to a real mosquitto."""

from __future__ import annotations

import os
import random
import time

from net_helpers import Fleet, MpyProcess, scan_id

SCANS = 1000
KILLS = 25
T0 = 1631000000


def test_every_scan_reported_across_random_power_cuts(mosquitto_broker, tmp_path):
    seed = int(os.environ.get("GG_POWER_CUT_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    port = mosquitto_broker.port
    # the fleet acks each batch: records leave the outbox only on that ack
    sub = Fleet(port, ["gg/v1/dev/gg-00000000c0de/scans"])
    cfg = {"dir": str(tmp_path / "outbox"), "counter": str(tmp_path / "counter"),
           "host": "127.0.0.1", "port": port, "device": "gg-00000000c0de", "scans": SCANS,
           "interval_ms": 1, "capacity": 2048, "segment_records": 64}
    appended: dict[int, int] = {}   # seq -> scan id, as printed after append()
    starts = []
    cut_while_scanning = 0
    done = None
    try:
        for run in range(KILLS + 1):
            h = MpyProcess("scan_harness.py", cfg, tmp_path)
            try:
                if run < KILLS:
                    time.sleep(rng.uniform(0.01, 0.35))
                else:
                    done = h.wait_for("drained", timeout=120)
            finally:
                h.kill()
            names = {ev.get("ev") for ev in h.all_events}
            if "appended" in names and "scanned" not in names:
                cut_while_scanning += 1
            for ev in h.all_events:
                if ev.get("ev") == "appended":
                    assert appended.setdefault(ev["seq"], ev["scan"]) == ev["scan"], (
                        f"seed {seed}: seq {ev['seq']} given to two scans")
                elif ev.get("ev") == "start":
                    starts.append(ev["next_seq"])
                elif ev.get("ev") == "drained" and done is None:
                    done = ev
            if done:
                break
        assert done is not None, f"seed {seed}: harness never drained"
        print(f"power cut: seed {seed}, {run + 1} runs, {cut_while_scanning} cut mid-scan, {len(appended)} appends")
        assert cut_while_scanning >= 5, f"seed {seed}: only {cut_while_scanning} cuts mid-scan"
        last_seq = max(appended)
        assert done["acked"] >= last_seq and done["dropped"] == 0
        # The seq never goes back across restarts.
        assert starts == sorted(starts)
        assert sub.wait(lambda m: {e["seq"] for e in sub.scans()} >= set(appended), timeout=30)
        received: dict[int, int] = {}
        for e in sub.scans():
            k = scan_id(e)
            assert 0 <= k < SCANS and e["time"] == T0 + k and e["verdict"] is (k % 3 != 0)
            # Re-deliveries are allowed (at-least-once), a seq reused for
            # another record is not.
            assert received.setdefault(e["seq"], k) == k, f"seed {seed}: seq {e['seq']} reused"
        for seq, k in appended.items():
            assert received.get(seq) == k, f"seed {seed}: seq {seq} (scan {k}) lost"
        # Every scan reported; no seq that was never appended; no gaps.
        assert set(received.values()) == set(range(SCANS)), f"seed {seed}"
        assert set(received) == set(range(1, max(received) + 1)), f"seed {seed}"
        assert max(received) <= done["acked"]
    finally:
        sub.close()
