"""Power cuts on the REAL firmware: while 1,000 scans are typed into the
scanner pty (passes and garbage, each text once), the firmware is SIGKILLed at
random moments and booted again on the same flash, pty and module, with a
real mosquitto and a paho subscriber.

The oracle, from sources the firmware cannot fake for itself:
- the device's outbox segments on flash, read by an independent parser
  (e2e_kit.read_outbox): the set of seqs that exist and what each says;
- the decision events (written only after the outbox append returned): every
  decision the firmware announced must be a record on flash, in the same
  order; a record without its event is only possible for the one decision a
  cut interrupted, so at most one per cut;
- what was typed: a record's pass hash must be a pass we scanned, and each
  pass is decided at most once.
Then the subscriber must have every seq on flash, with the same content,
and no seq that is not on flash.

GG_E2E_SCANS (default 1000) shrinks the run for a quick local check;
GG_POWER_CUT_SEED replays one schedule of cuts."""

from __future__ import annotations

import os
import random
import threading
import time

from e2e_kit import (DecisionCounter, Fleet, announced_on_flash, boot, events_of, kind, pass_hash,
                     power_cut, provision_site, read_outbox, reported, same_scan)

DEVICE = "gg-0000000e2e02"
SCANS = int(os.environ.get("GG_E2E_SCANS", "1000"))
KILLS = max(3, SCANS // 40)
IN_FLIGHT = 2     # codes typed but not yet decided, at most (the module waits)
LOST_PER_CUT = IN_FLIGHT + 1  # + the code being typed when the power went


def test_every_decided_scan_reported_across_power_cuts(tmp_path, mosquitto_broker):
    seed = int(os.environ.get("GG_POWER_CUT_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    msg = f"seed {seed} (GG_POWER_CUT_SEED={seed} replays it)"
    root = tmp_path / "sim"
    flash = root / "flash"
    site = provision_site(flash, tmp_path, DEVICE, device_config={"gate": {"relay_ms": 200}})
    texts, passes = [], {}
    for i in range(SCANS):
        if rng.random() < 0.25:
            texts.append("NOISE-%04d-%s" % (i, "X" * rng.randrange(0, 40)))
        else:
            t = site.issue(b"cut-%04d" % i)
            passes[pass_hash(t)] = i
            texts.append(t)

    sub = Fleet(mosquitto_broker.port, [f"gg/v1/dev/{DEVICE}/scans"])  # acks each batch
    sim = boot(root, DEVICE, mosquitto_broker.port)
    up = threading.Event()       # the firmware is booted: the module may type
    typed = []
    failure = []
    decided = DecisionCounter(sim.paths.events)
    since_boot = [0, 0]          # (typed, decided) when this boot came up

    def feed():
        # Quick, but never more than IN_FLIGHT codes ahead of the decisions:
        # a cut then loses a bounded number of typed codes (the queue would
        # otherwise hold up to 8, or drop codes while the machine is busy).
        try:
            for i, text in enumerate(texts):
                deadline = time.monotonic() + 60
                while True:
                    if up.wait(60) and (len(typed) - since_boot[0]) - (decided() - since_boot[1]) < IN_FLIGHT:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"firmware stopped deciding at scan {i}")
                    time.sleep(0.002)
                sim.scan(text)   # paced at the module's baud rate, CR terminated
                typed.append(i)
        except Exception as e:  # noqa: reported by the test thread
            failure.append(e)

    feeder = threading.Thread(target=feed, daemon=True)
    cuts = 0
    cut_log = []
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=30)
        up.set()
        feeder.start()
        # cut after a random scan, a random few ms later: while a code is
        # being typed, framed, decided, appended or reported
        for point in sorted(rng.sample(range(1, SCANS), KILLS)):
            while len(typed) < point and feeder.is_alive():
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.03))
            up.clear()           # the module stops, possibly in the middle of a code
            n = len(sim.events())
            power_cut(sim)
            cuts += 1
            cut_log.append((point, len(typed)))
            sim.wait_for(kind("scanner", state="ready"), after=n, timeout=30)
            since_boot[:] = [len(typed), decided()]
            up.set()
        feeder.join(180)
        assert not failure and len(typed) == SCANS, (msg, failure, len(typed))

        # quiet: every typed code decided or lost, all records reported
        decided_before = -1
        while True:
            decisions = [e for e in events_of(sim.paths.events) if e["kind"] == "decision"]
            if len(decisions) == decided_before:
                break
            decided_before = len(decisions)
            time.sleep(1.0)
        records = read_outbox(flash)
        assert sub.wait(lambda m: set(reported(sub)) >= set(records), timeout=90), (
            msg, sorted(set(records) - set(reported(sub)))[:20])
    finally:
        up.set()
        sim.stop()
        sub.close()

    records = read_outbox(flash)  # final, after the last process ended
    events = events_of(sim.paths.events)
    decisions = [(e["pass"], e["verdict"], e["reason"]) for e in events if e["kind"] == "decision"]
    seqs = sorted(records)
    print(f"power cut e2e: {msg}, {cuts} cuts, {SCANS} typed, {len(decisions)} decision "
          f"events, {len(records)} records on flash")
    assert cuts == KILLS, msg

    # seqs: 1..N, never reused (read_outbox also fails on a seq stored twice)
    assert seqs == list(range(1, len(seqs) + 1)), (msg, seqs[:5], seqs[-5:])

    # what the records say matches what was typed
    on_flash = [records[s] for s in seqs]
    seen_passes = set()
    for s, r in zip(seqs, on_flash):
        if r["pass"] is not None:
            assert r["pass"] in passes, (msg, s, r)  # never a pass we did not scan
            assert r["pass"] not in seen_passes, (msg, s, "decided twice")
            seen_passes.add(r["pass"])
            assert r["verdict"] is True and r["reason"] == 0, (msg, s, r)
        else:
            assert r["verdict"] is False and r["reason"] != 0, (msg, s, r)
        assert r["time_valid"] is True

    # every announced decision is on flash, in order; a record without its
    # event only where a cut fell between the append and the event
    j, extra = announced_on_flash(on_flash, decisions)
    assert j == len(decisions), (msg, f"decision {j} {decisions[j] if j < len(decisions) else None} "
                                      "announced but not on flash")
    assert extra <= cuts, (msg, extra, cuts)
    # nothing lost but what a cut interrupted
    missing = sorted(i for h, i in passes.items() if h not in seen_passes)
    assert len(records) >= SCANS - LOST_PER_CUT * cuts, (msg, len(records), "passes never decided",
                                                          missing, "cuts (after scan, typed)", cut_log)

    # the subscriber: every seq on flash at least once, same content, nothing else
    got = reported(sub)
    assert set(got) == set(records), (msg, sorted(set(got) ^ set(records))[:20])
    for s, copies in got.items():
        for e in copies:
            assert e["device"] == DEVICE and same_scan(e, records[s]), (msg, s, e, records[s])
