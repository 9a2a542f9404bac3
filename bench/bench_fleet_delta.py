"""Benchmark: time until every gate has applied a revocation delta.

    python3 bench/bench_fleet_delta.py                       # 10,000 gates, SQLite
    python3 bench/bench_fleet_delta.py --db pg               # PostgreSQL (greengate_bench, recreated)
    python3 bench/bench_fleet_delta.py --devices 20 --revoked 100   # smoke scale

Setup (not timed): a registry of N gates on one site and a revocation list of
--revoked passes cut into a GGRV snapshot; mosquitto (generated config); the
real broker bridge as its own process (`python -m fleet.broker_bridge` with
the fleet key) publishes the pending control messages (every gate's
configuration, the revocation manifest); N simulated gates (bench/devsim.py,
one MQTT connection each) connect with the snapshot already on flash (as
provisioning leaves it), verify the retained configuration and manifest and
report them in their state.

Timed: an operator revokes one pass (fleet.services.revocations.revoke, the
API's code path: new list version, GGRD delta blob, outbox row, commit).
The bridge signs and publishes the manifest (retained, gg/v1/fleet/revocation);
each gate verifies the signature, asks for the delta blob on .../fetch, gets
its chunk on .../blob, checks the SHA-256, commits and publishes its state;
the bridge stores the state. Two clocks, both from the commit of the
revocation: "devices" = the last simulated gate committed the new version
(simulator side), "fleet DB" = the fleet's device table shows the new
revocation version for all N gates (what the dashboard sees). Target: <= 10 s
for 10,000 gates.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_rig  # noqa: E402  (puts the repo on sys.path)

from sqlalchemy import func, select  # noqa: E402

import devsim  # noqa: E402
from fleet.broker_bridge import topics  # noqa: E402
from fleet.broker_bridge.wire import load_or_create_fleet_key  # noqa: E402
from fleet.models import Blob, Device, Revocation  # noqa: E402
from fleet.services import control, revocations  # noqa: E402
from greengate.control import envelope  # noqa: E402


def seed_revocations(sessions, n: int) -> int:  # noqa: ANN001
    """n revoked passes cut into a snapshot, plus the manifest queued."""
    with sessions() as db:
        db.add_all(Revocation(pass_hash=hashlib.sha256(b"old/%d" % i).hexdigest()[:32], reason="LOST",
                              created_by="bench", version=i + 1) for i in range(n))
        db.flush()
        snap = control.cut_snapshot(db)
        control.enqueue_revocation_update(db)
        db.commit()
        return snap.blob_sha256


def count_at(sessions, version: int) -> int:  # noqa: ANN001
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Device).where(Device.revocation_version >= version))


async def run(a: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="gg-bench-delta-"))
    procs, broker, sim = [], None, None
    try:
        fleet_rig.raise_nofile(a.devices + 512)
        db_url = fleet_rig.fresh_db(a.db, tmp)
        engine, sessions, site_id = fleet_rig.seed(db_url, a.devices, devsim.device_id)
        snap_sha = seed_revocations(sessions, a.revoked)
        with sessions() as db:
            snapshot = db.get(Blob, snap_sha).data
        key_path = tmp / "fleet.key"
        fleet_pub = envelope.raw_public(load_or_create_fleet_key(key_path, create=True))

        broker = fleet_rig.start_broker(tmp, a.max_inflight)
        procs = fleet_rig.start_workers(db_url, broker.port, a.workers, tmp, fleet_key=key_path)
        t_setup = fleet_rig.wait_outbox_empty(sessions, a.timeout)
        with sessions() as db:
            v1 = control.latest_row(db, topics.REVOCATION).id
        print(f"setup: {a.devices} configurations + manifest v{v1} signed and published in {t_setup:.1f}s",
              file=sys.stderr)

        sim = devsim.DeviceSim("127.0.0.1", broker.port, [devsim.device_id(i) for i in range(a.devices)],
                               fleet_keys=[fleet_pub], site_of=lambda _d: str(site_id),
                               preload=[snapshot])
        t_conn = await sim.connect_all(timeout=a.timeout)
        deadline = time.monotonic() + a.timeout
        while count_at(sessions, v1) < a.devices or min(
                (d.applied.get(devsim.KIND_REVOCATION) or 0) for d in sim.devices.values()) < v1:
            if time.monotonic() > deadline:
                raise TimeoutError("gates did not all apply the first manifest")
            await asyncio.sleep(0.1)
        t_ready = time.monotonic() - deadline + a.timeout
        print(f"setup: {a.devices} gates connected in {t_conn:.1f}s, all at revocation v{v1} "
              f"(fleet DB) after {t_ready:.1f}s", file=sys.stderr)
        verified0, chunks0 = sim.stats.verified, sim.stats.chunks

        # -- timed part ---------------------------------------------------------------
        spies = fleet_rig.start_profilers(procs, tmp) if a.profile else []
        meter = fleet_rig.CpuMeter(broker.proc.pid, [p.pid for p in procs])
        meter.start()
        new_hash = hashlib.sha256(b"f0-case-%d" % time.time_ns()).hexdigest()[:32]
        t0 = time.time()
        with sessions() as db:
            revocations.revoke(db, new_hash, "F0", "bench")
            db.commit()
            v2 = control.latest_row(db, topics.REVOCATION).id
        t_commit = time.time() - t0
        t_db = None
        deadline = time.monotonic() + a.timeout
        while time.monotonic() < deadline:
            n_db = await asyncio.to_thread(count_at, sessions, v2)
            if n_db >= a.devices:
                t_db = time.time() - t0
                break
            await asyncio.sleep(a.poll)
        cpu = meter.stop()
        fleet_rig.stop_profilers(spies)
        applied = [d.applied_at.get(devsim.KIND_REVOCATION, 0) for d in sim.devices.values()
                   if d.applied.get(devsim.KIND_REVOCATION) == v2]
        n_sim = len(applied)
        t_sim = max(applied) - t0 if n_sim == a.devices else None
        got = [d.received_at[devsim.KIND_REVOCATION] for d in sim.devices.values()
               if d.received_at.get(devsim.KIND_REVOCATION, 0) >= t0]
        first_m = min(got) - t0 if got else float("nan")
        last_m = max(got) - t0 if got else float("nan")
        ok = t_db is not None and n_sim == a.devices
        print(f"db={engine.dialect.name} devices={a.devices} revoked_before={a.revoked} workers={a.workers} "
              f"mosquitto_max_inflight={a.max_inflight} version {v1}->{v2} commit={t_commit * 1000:.0f}ms "
              f"manifest_first={first_m:.2f}s manifest_last={last_m:.2f}s "
              f"devices_applied={n_sim} devices_all={'%.2fs' % t_sim if t_sim else 'NO'} "
              f"fleet_db_all={'%.2fs' % t_db if t_db else 'NO (%d)' % n_db} "
              f"verified={sim.stats.verified - verified0} chunks={sim.stats.chunks - chunks0} "
              f"refused={sim.stats.refused} target<=10s {'MET' if ok and t_db <= 10 else 'MISSED'} {cpu}")
        return 0 if ok else 1
    finally:
        await fleet_rig.teardown(sim, procs, broker, tmp, a.keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="sqlite", help="sqlite | pg | a database URL (recreated)")
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--revoked", type=int, default=1000, help="passes already in the snapshot")
    ap.add_argument("--workers", type=int, default=1, help="bridge processes (worker 0 publishes)")
    fleet_rig.add_common_args(ap, poll=0.05, timeout=120.0)
    sys.exit(asyncio.run(run(ap.parse_args())))


if __name__ == "__main__":
    main()
