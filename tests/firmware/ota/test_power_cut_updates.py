"""Power cuts during firmware updates, on the REAL firmware: update after
update is offered through mosquitto while passes are scanned, and the
firmware is SIGKILLed at random moments (while downloading, verifying and
unpacking, switching, on probation) and booted again on the same flash.

After every update has settled:
- the gate runs (scanner ready, connected) on a good slot: the pointer is
  not on trial, and the slot it names holds exactly the files of the release
  the device says is installed (each file's SHA-256 against that release);
- the update ended as done, or as rolled back when cuts fell on both
  probation boots (never failed, never stuck);
and at the end no scan record is lost: seqs 1..N without a gap, every
decision the firmware announced is a stored record, in order (at most one
unannounced record per cut), and the fleet received every record (those
still on flash with the same content; the outbox deletes acked segments).

GG_OTA_UPDATES (default 20) sets the number of updates (the time limit
grows with it), GG_OTA_CUT_SEED replays one schedule of cuts;
docs/benchmarks.md gives the 200-update runs."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time

import pytest

from e2e_kit import (DecisionCounter, Fleet, announced_on_flash, boot, events_of, kind, power_cut,
                     read_outbox, reported, same_scan)
from greengate.ota import release as rel
from ota_kit import OtaFleet, make_release, ota_state, provisioned_gate, slot_of

DEVICE = "gg-0000000e2e0d"
UPDATES = int(os.environ.get("GG_OTA_UPDATES", "20"))


def slot_matches(flash, release: rel.Release) -> bool:
    slot = slot_of(flash)["slot"]
    if not slot:
        return False
    base = flash / f"slot_{slot}"
    want = {p: h for p, _n, h in release.info["files"]}
    have = {p.relative_to(base).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in base.rglob("*") if p.is_file()}
    return have == want


@pytest.mark.timeout(300 + 90 * UPDATES)
def test_power_cuts_during_updates_leave_a_good_slot_and_every_scan(tmp_path, mosquitto_broker):
    seed = int(os.environ.get("GG_OTA_CUT_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    msg = f"seed {seed} (GG_OTA_CUT_SEED={seed} replays it)"
    root, flash, site, key = provisioned_gate(tmp_path, DEVICE, device_config={"gate": {"relay_ms": 100}},
                                              ota_probation_s=60)

    scans = Fleet(mosquitto_broker.port, [f"gg/v1/dev/{DEVICE}/scans"])
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key)
    sim = boot(root, DEVICE, mosquitto_broker.port)
    decided = DecisionCounter(sim.paths.events)
    up = threading.Event()
    stop = threading.Event()
    typed = [0]
    failure = []

    def feed():
        # a pass or garbage every ~0.3 s while the gate is up, at most one waiting
        i = 0
        try:
            while not stop.is_set():
                if not up.wait(0.5):
                    continue
                text = site.issue(b"cut-%05d" % i) if i % 4 else "NOISE-%05d" % i
                sim.scan(text)
                typed[0] += 1
                i += 1
                time.sleep(0.3)
        except Exception as e:  # noqa: reported by the test thread
            failure.append(e)

    def cut_at(where, n) -> bool:
        """Wait for the moment (`where` in campaign n), then SIGKILL and boot
        again; False when the update settled first (no cut)."""
        if where == "none":
            return False
        phase = {"download": 1, "verify": 2, "switch": 3, "probation": 4}.get(where)
        since = len(fleet.states)
        try:
            if phase == 1:
                pct = rng.randrange(0, 90)
                fleet.wait_state(lambda s: s[4] == n and s[1] == 1 and s[2] >= pct, timeout=120)
            elif phase is not None:
                # a moment of this boot: states seen from now on
                fleet.wait_state(lambda s: s[4] == n and s[1] == phase, timeout=120,
                                 since=max(0, since - 1))
            time.sleep(rng.uniform(0, 3.0 if where == "any" else 0.4))
        except TimeoutError:
            return False
        last = fleet.states[-1]
        if last[4] == n and last[1] in (5, 6, 7):
            return False
        up.clear()
        n_ev = len(sim.events())
        power_cut(sim)
        sim.wait_for(kind("scanner", state="ready"), after=n_ev, timeout=90)
        up.set()
        return True

    feeder = threading.Thread(target=feed, daemon=True)
    cuts = {"download": 0, "verify": 0, "switch": 0, "probation": 0, "any": 0}
    outcomes = {5: 0, 6: 0}
    installed = {}  # release number -> Release
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        up.set()
        feeder.start()
        for n in range(1, UPDATES + 1):
            release = make_release(key, n)
            installed[n] = release
            fleet.offer(release, campaign=n)
            # one cut, sometimes two (two on probation boots: a rollback)
            for _ in range(rng.choice((1, 1, 1, 2))):
                where = rng.choice(("download", "verify", "switch", "probation", "any", "none"))
                if cut_at(where, n):
                    cuts[where] += 1
            s = fleet.wait_result(n, n, timeout=300)
            assert s[1] in (5, 6), (msg, n, s, fleet.states[-10:])
            outcomes[s[1]] += 1
            # settled: the gate runs a good slot holding the installed release
            st = ota_state(flash)
            p = slot_of(flash)
            assert not p.get("trial"), (msg, n, p)
            if st["installed"]:
                assert slot_matches(flash, installed[st["installed"]]), (msg, n, st, p)
            assert not failure, failure
        stop.set()
        feeder.join(10)
        # quiet: every typed code decided, every record reported
        before = -1
        while decided() != before:
            before = decided()
            time.sleep(1.0)
        records = read_outbox(flash)
        assert scans.wait(lambda m: set(reported(scans)) >= set(records), timeout=90), msg
    finally:
        stop.set()
        up.set()
        fleet.close()
        sim.stop()
        scans.close()

    n_cuts = sum(cuts.values())
    print(f"OTA power cuts: {msg}, {UPDATES} updates, cuts {cuts}, outcomes done={outcomes[5]} "
          f"rolled back={outcomes[6]}, reboots {sim.reboots}, {typed[0]} codes typed")
    # The outbox deletes segments the fleet acked, so over thousands of
    # scans the flash keeps only the newest records: the record set is what
    # the fleet received (every copy of a seq identical) plus what is on
    # flash, which must agree where both have a seq.
    records = read_outbox(flash)
    events = events_of(sim.paths.events)
    decisions = [(e["pass"], e["verdict"], e["reason"]) for e in events if e["kind"] == "decision"]
    got = reported(scans)
    for s, copies in got.items():
        assert all(same_scan(e, copies[0]) for e in copies), (msg, s)
    assert set(records) <= set(got), (msg, sorted(set(records) - set(got))[:10])
    for s in records:
        assert same_scan(got[s][0], records[s]), (msg, s)
    seqs = sorted(got)
    assert seqs == list(range(1, len(seqs) + 1)), (msg, "a seq missing or reused")
    every = [records[s] if s in records else got[s][0] for s in seqs]
    j, extra = announced_on_flash(every, decisions)
    assert j == len(decisions), (msg, "a decision announced but never stored", j)
    assert extra <= n_cuts, (msg, extra, n_cuts)
    assert outcomes[5] >= UPDATES // 2, (msg, outcomes)
    assert len(decisions) > 0
