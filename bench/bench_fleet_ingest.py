"""Benchmark: scan events persisted per second, exactly once, through mosquitto
and the broker bridge into SQLite or PostgreSQL.

    python3 bench/bench_fleet_ingest.py                      # SQLite (temp file)
    python3 bench/bench_fleet_ingest.py --db pg              # PostgreSQL (greengate_bench, recreated)
    python3 bench/bench_fleet_ingest.py --workers 2          # two bridge processes, $share/greengate
    python3 bench/bench_fleet_ingest.py --events 600 --devices 20   # smoke scale

N simulated gates (bench/devsim.py: one MQTT connection, client id and Last
Will each) publish protocol scan batches (30 scans, CBOR, QoS 1, up to
--inflight unacknowledged per gate, like an outbox flushing after an outage);
every --dup-every-th batch is published twice (a re-send after a lost
PUBACK: same seqs). The real broker bridge (`python -m fleet.broker_bridge`,
--workers processes sharing $share/greengate) stores them. The clock runs
from the first publish until the database holds every event (count(*)
polled every 0.5 s, then every --poll s once 90 % are in). Exactly once: rows == distinct (device, seq) == events published,
and every gate's seqs are exactly 0..n-1. Target: >= 20,000 events/s.
End-to-end ack (protocol 4.4): every gate subscribes to its ack topic and
applies the firmware's ack rule; `fleet_acked_in` is when the last gate holds
the fleet's ack for its last seq (its outbox would be empty), and
`acks/batch` the extra messages per scan batch sent.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_rig  # noqa: E402  (puts the repo on sys.path)

from sqlalchemy import func, select  # noqa: E402

import devsim  # noqa: E402
from fleet.models import Scan  # noqa: E402


def stored(sessions) -> int:  # noqa: ANN001
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Scan))


def audit(sessions, n_devices: int, per_device: int) -> dict:  # noqa: ANN001
    with sessions() as db:
        rows = db.scalar(select(func.count()).select_from(Scan))
        distinct = db.scalar(select(func.count()).select_from(
            select(Scan.device_id, Scan.seq).distinct().subquery()))
        per_dev = db.execute(select(Scan.device_id, func.count(), func.min(Scan.seq), func.max(Scan.seq))
                             .group_by(Scan.device_id)).all()
    complete = len(per_dev) == n_devices and all(
        c == per_device and lo == 0 and hi == per_device - 1 for _d, c, lo, hi in per_dev)
    return {"rows": rows, "distinct": distinct, "devices_complete": complete}


async def device_run(dev: devsim.SimDevice, per_device: int, batch: int, dup_every: int,
                     acks: list) -> int:
    """Publish this gate's events; returns how many messages it sent."""
    sent, now = 0, int(time.time())
    for b, first in enumerate(range(0, per_device, batch)):
        n = min(batch, per_device - first)
        acks.append(await dev.send_scans(first, n, now))
        sent += 1
        if dup_every and b % dup_every == dup_every - 1:
            acks.append(await dev.send_scans(first, n, now))  # same seqs again
            sent += 1
    return sent


async def await_fleet_acks(sim, done: list, per_device: int, a: argparse.Namespace) -> int:  # noqa: ANN001
    """Wait until every gate holds the fleet's ack for its last seq. Like the
    firmware, a gate whose ack did not come within --ack-timeout sends its
    unacked batches again (with several workers a gate's acks can arrive out
    of order and the ack rule ignores those ahead); returns how many it resent."""
    resent = 0
    deadline = time.monotonic() + a.timeout
    while True:
        pending = [f for f in done if not f.done()]
        if not pending:
            return resent
        if time.monotonic() > deadline:
            raise TimeoutError("gates still waiting for the fleet's ack")
        await asyncio.wait(pending, timeout=a.ack_timeout)
        for dev in sim.devices.values():
            if dev.fleet_acked < per_device - 1 and not dev.all_acked.done():
                for first in range(dev.fleet_acked + 1, per_device, 30):
                    await dev.send_scans(first, min(30, per_device - first))
                    resent += 1


async def run(a: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="gg-bench-ingest-"))
    procs, broker, sim = [], None, None
    try:
        fleet_rig.raise_nofile(a.devices + 512)
        db_url = fleet_rig.fresh_db(a.db, tmp)
        per_device = a.events // a.devices
        total = per_device * a.devices
        engine, sessions, _site = fleet_rig.seed(db_url, a.devices, devsim.device_id)
        broker = fleet_rig.start_broker(tmp, a.max_inflight)
        procs = fleet_rig.start_workers(db_url, broker.port, a.workers, tmp, batch_max=a.batch_max)
        sim = devsim.DeviceSim("127.0.0.1", broker.port, [devsim.device_id(i) for i in range(a.devices)],
                               fleet_keys=[], inflight=a.inflight)
        await sim.connect_all(timeout=a.timeout)
        await sim.drain()
        await asyncio.sleep(0.5)  # the bridge stores the gates' first state messages

        spies = fleet_rig.start_profilers(procs, tmp) if a.profile else []
        meter = fleet_rig.CpuMeter(broker.proc.pid, [p.pid for p in procs])
        meter.start()
        acks: list[asyncio.Future] = []
        fleet_acks = [d.expect_acks(per_device - 1) for d in sim.devices.values()]
        t0 = time.perf_counter()
        counts = await asyncio.gather(*(device_run(d, per_device, 30, a.dup_every, acks)
                                        for d in sim.devices.values()))
        t_sent = time.perf_counter() - t0
        n = 0
        deadline = time.monotonic() + a.timeout
        while time.monotonic() < deadline:
            n = await asyncio.to_thread(stored, sessions)
            if n >= total:
                break
            # count(*) is a scan of the table: poll coarsely until close to the end
            await asyncio.sleep(a.poll if n >= 0.9 * total else 0.5)
        elapsed = time.perf_counter() - t0
        cpu = meter.stop()
        await asyncio.wait_for(asyncio.gather(*acks, return_exceptions=True), a.timeout)
        t_acked = time.perf_counter() - t0
        resent = await await_fleet_acks(sim, fleet_acks, per_device, a)
        t_fleet = time.perf_counter() - t0
        fleet_rig.stop_profilers(spies)
        await asyncio.sleep(1.0)  # late duplicates would show up now
        res = audit(sessions, a.devices, per_device)
        ok = res["rows"] == res["distinct"] == total and res["devices_complete"]
        rate = total / elapsed
        acked_rate = total / t_fleet
        print(f"db={engine.dialect.name} events={total} devices={a.devices} messages={sum(counts)} "
              f"(re-sends {sum(counts) - -(-per_device // 30) * a.devices}) workers={a.workers} "
              f"inflight/gate={a.inflight} mosquitto_max_inflight={a.max_inflight} "
              f"stored={res['rows']} distinct={res['distinct']} per_gate_complete={res['devices_complete']} "
              f"exactly_once={ok} published_in={t_sent:.2f}s all_acked={t_acked:.2f}s "
              f"stored_in={elapsed:.2f}s rate={rate:,.0f} events/s "
              f"fleet_acked_in={t_fleet:.2f}s acked_rate={acked_rate:,.0f} events/s "
              f"fleet_acks={sim.stats.fleet_acks} (+{sim.stats.fleet_acks_ignored} stale) "
              f"ack_timeout_resends={resent} "
              f"acks/batch={(sim.stats.fleet_acks + sim.stats.fleet_acks_ignored) / sum(counts):.2f} "
              f"target>=20000 {'MET' if ok and min(rate, acked_rate) >= 20000 else 'MISSED'} {cpu}")
        return 0 if ok else 1
    finally:
        await fleet_rig.teardown(sim, procs, broker, tmp, a.keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="sqlite", help="sqlite | pg | a database URL (recreated)")
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1, help="bridge processes sharing $share/greengate")
    ap.add_argument("--inflight", type=int, default=8, help="unacknowledged batches per gate")
    ap.add_argument("--dup-every", type=int, default=4, help="re-send every n-th batch (0: never)")
    ap.add_argument("--batch-max", type=int, default=500, help="bridge: messages per transaction")
    ap.add_argument("--ack-timeout", type=float, default=2.0,
                    help="gate: resend unacked batches after this many seconds without the fleet's ack")
    fleet_rig.add_common_args(ap, poll=0.02, timeout=240.0)
    sys.exit(asyncio.run(run(ap.parse_args())))


if __name__ == "__main__":
    main()
