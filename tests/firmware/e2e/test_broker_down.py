"""The broker is down for the whole scanning period: the real firmware keeps
deciding (verdicts, relay pulses, screens) and keeps every record on flash;
once mosquitto is started every record reaches a subscriber.

The subscriber's QoS 1 subscription is made before the outage on a broker
with persistence, so whatever the device publishes the moment mosquitto is
back is queued for it: no race between the device and the subscriber."""

from __future__ import annotations

import cbor2

from brokers import Mosquitto, free_port, mosquitto
from e2e_kit import (PersistentFleet, boot, kind, pass_hash, provision_site,
                     read_outbox, reported, same_scan)

DEVICE = "gg-0000000e2e03"
SCANS = 30
RELAY_MS = 300


def test_scanning_goes_on_while_the_broker_is_down(tmp_path):
    port = free_port()
    store = tmp_path / "mosquitto-db"
    store.mkdir()
    broker = mosquitto(tmp_path / "mosquitto", port=port,
                       extra_conf=f"persistence true\npersistence_location {store}/\n")
    broker.start()
    # the fleet acks each batch: the device's outbox drains only on that ack
    sub = PersistentFleet(port, [f"gg/v1/dev/{DEVICE}/scans", f"gg/v1/dev/{DEVICE}/state"],
                          "e2e-broker-down-sub")
    sub.pause()
    broker.stop()  # saves the subscriber's session; now nothing listens on the port

    root = tmp_path / "sim"
    site = provision_site(root / "flash", tmp_path, DEVICE,
                          device_config={"gate": {"relay_ms": RELAY_MS}})
    sim = boot(root, DEVICE, port)
    scanned = []
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=30)
        for i in range(SCANS):
            if i % 3 == 0:
                text = site.issue(b"down-%03d" % i)
                want = (True, "OK", pass_hash(text).hex())
            else:
                text = "NOT-A-PASS-%03d" % i
                want = (False, "PREFIX", None)
            n = len(sim.events())
            sim.scan(text)
            d = sim.wait_for(kind("decision"), after=n, timeout=30)
            assert (d["verdict"], d["reason"], d["pass"]) == want, (i, d)
            if want[0]:
                opened = sim.wait_for(kind("pin", name="relay", value=1), after=n)
                closed = sim.wait_for(kind("pin", name="relay", value=0), after=n, timeout=10)
                # the configured pulse; the "on" event's time stamp is taken
                # just after the pulse starts counting (1 ms tick granularity)
                assert closed["ms"] - opened["ms"] >= RELAY_MS - 1
            else:
                sim.wait_for(kind("screen", screen="deny"), after=n, timeout=5)
            scanned.append(want)
        assert sim.poll() is None  # still running, never reset for the network
        records = read_outbox(root / "flash")
        assert len(records) == SCANS and sorted(records) == list(range(1, SCANS + 1))
        for seq, (verdict, reason, h) in enumerate(scanned, start=1):
            r = records[seq]
            assert r["verdict"] is verdict and (r["pass"].hex() if r["pass"] else None) == h
        assert not sub.snapshot()

        # the broker comes back: everything arrives
        back = Mosquitto(port=broker.port, conf=broker.conf, log=broker.log).start()
        try:
            sub.connect()
            assert sub.wait(lambda m: set(reported(sub)) >= set(records), timeout=120), (
                f"missing seqs {sorted(set(records) - set(reported(sub)))}")
            got = reported(sub)
            assert set(got) == set(records)  # and no seq that was never decided
            for seq, copies in got.items():
                for e in copies:
                    assert e["device"] == DEVICE and same_scan(e, records[seq]), (seq, e)
            # the device says so too: online, outbox drained (fleet-acked), nothing dropped
            assert sub.wait(lambda m: any(
                st.get(1) is True and st.get(4) == 0 and st.get(5) == 0
                for st in (cbor2.loads(p) for t, p, _ in m if t.endswith("/state"))), timeout=30), [cbor2.loads(p) for t, p, _ in sub.snapshot() if t.endswith("/state")]
        finally:
            sub.close()
            back.stop()
    finally:
        sim.stop()

