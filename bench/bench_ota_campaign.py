"""Benchmark: time for a firmware rollout campaign over N gates to complete.

    python3 bench/bench_ota_campaign.py                          # 1,000 gates, the real firmware bundle
    python3 bench/bench_ota_campaign.py --payload 20000          # a synthetic 20 KB payload
    python3 bench/bench_ota_campaign.py --db pg --devices 50     # PostgreSQL, smoke scale

Setup (not timed): a registry of N gates on one site; a release signed with
a fresh release key (`--payload firmware`: greengate.ota.release builds the
file bundle of this checkout's firmware/, every module through mpy-cross
-march=xtensawin, as `greengate fleet release build` does) published on the
fleet; mosquitto; the broker bridge as its own process (`python -m
fleet.broker_bridge` with the fleet key: signs offers, serves the release in
768-byte blob chunks, ingests the gates' state key 15); N simulated gates
(bench/otasim.py: one MQTT connection each, offer and manifest signatures
checked, payload fetched in windows of 16 chunks and SHA-256 checked, then
verifying / switching / probation / done reported); a campaign made with
waves 1 % -> 10 % -> 100 %, zero pause, threshold 2 %, max in flight = N.

Timed: from the commit of `campaign start` until the fleet database shows the
campaign done (every gate reported done), with the engine ticking every
--tick seconds in this process, as `serve`'s loop does (GREENGATE_OTA_TICK_S).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_rig  # noqa: E402  (puts the repo on sys.path)

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import devsim  # noqa: E402
import otasim  # noqa: E402
from fleet.broker_bridge.wire import load_or_create_fleet_key  # noqa: E402
from fleet.models import AuditLog, Device  # noqa: E402
from fleet.services import ota, releases  # noqa: E402
from greengate.control import envelope  # noqa: E402
from greengate.ota import release as ota_release  # noqa: E402
from greengate.paths import FIRMWARE  # noqa: E402


def make_release(payload: str, key: Ed25519PrivateKey) -> ota_release.Release:
    if payload == "firmware":
        return ota_release.build_release(FIRMWARE, 2, "0.2.0", 1, ota_release.TARGET_BUNDLE, key)
    size = int(payload)
    data = bytes(range(256)) * (size // 256 + 1)
    return ota_release.build_release(None, 2, "0.2.0", 1, ota_release.TARGET_BUNDLE, key,
                                     files=[("main.mpy", data[:size])])


def campaign_state(sessions, cid: int) -> str:  # noqa: ANN001
    with sessions() as db:
        return ota.get(db, cid).state


def online(sessions) -> int:  # noqa: ANN001
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Device).where(Device.online.is_(True)))


def engine(sessions, tick: float, stop: threading.Event, errs: list) -> None:  # noqa: ANN001
    while not stop.wait(tick):
        try:
            ota.tick(sessions)
        except Exception as e:  # noqa: BLE001 reported at the end
            errs.append(repr(e))


async def run(a: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="gg-bench-ota-"))
    procs, broker, sim = [], None, None
    stop, errs = threading.Event(), []
    try:
        fleet_rig.raise_nofile(a.devices + 512)
        db_url = fleet_rig.fresh_db(a.db, tmp)
        engine_, sessions, site_id = fleet_rig.seed(db_url, a.devices, devsim.device_id)
        release_key = Ed25519PrivateKey.generate()
        key_path = tmp / "fleet.key"
        fleet_pub = envelope.raw_public(load_or_create_fleet_key(key_path, create=True))
        t0 = time.monotonic()
        rel = make_release(a.payload, release_key)
        t_build = time.monotonic() - t0
        with sessions() as db:
            releases.publish(db, rel, [envelope.raw_public(release_key)], fleet_pub, "bench")
            db.commit()
        chunks = -(-len(rel.payload) // 768)
        print(f"setup: release of {len(rel.payload)} B ({len(rel.info['files'])} files, {chunks} chunks) "
              f"built in {t_build:.1f}s", file=sys.stderr)
        broker = fleet_rig.start_broker(tmp, a.max_inflight)
        procs = fleet_rig.start_workers(db_url, broker.port, a.workers, tmp, fleet_key=key_path)
        t_setup = fleet_rig.wait_outbox_empty(sessions, a.timeout)
        sim = otasim.OtaSim("127.0.0.1", broker.port, [devsim.device_id(i) for i in range(a.devices)],
                            fleet_keys=[fleet_pub], release_keys=[envelope.raw_public(release_key)],
                            site_of=lambda _d: str(site_id))
        t_conn = await sim.connect_all(timeout=a.timeout)
        while await asyncio.to_thread(online, sessions) < a.devices:  # offers go to online gates
            await asyncio.sleep(0.2)
        print(f"setup: {a.devices} configurations published in {t_setup:.1f}s, gates connected in "
              f"{t_conn:.1f}s", file=sys.stderr)
        with sessions() as db:
            c = ota.create(db, 2, {"kind": "all", "value": None}, [1, 10, 100], "bench", pause_s=0,
                           failure_threshold_pct=2.0, max_in_flight=a.max_in_flight_gates or a.devices)
            db.commit()
            cid = c.id

        # -- timed part ---------------------------------------------------------------
        meter = fleet_rig.CpuMeter(broker.proc.pid, [p.pid for p in procs])
        meter.start()
        t0 = time.time()
        with sessions() as db:
            ota.start(db, cid, "bench")
            db.commit()
        loop_thread = threading.Thread(target=engine, args=(sessions, a.tick, stop, errs), daemon=True)
        loop_thread.start()
        deadline = time.monotonic() + a.timeout
        state = "running"
        while state == "running" and time.monotonic() < deadline:
            await asyncio.sleep(a.poll)
            state = await asyncio.to_thread(campaign_state, sessions, cid)
        t_done = time.time() - t0
        cpu = meter.stop()
        stop.set()
        with sessions() as db:
            waves = [(r.at.timestamp() - t0) for r in db.scalars(
                select(AuditLog).where(AuditLog.action == "ota.campaign.wave_complete",
                                       AuditLog.target_id == str(cid)).order_by(AuditLog.id))]
            totals = ota.summary(db, ota.get(db, cid))["totals"]
        ok = state == "done" and totals["done"] == a.devices and not errs
        print(f"db={engine_.dialect.name} devices={a.devices} payload={len(rel.payload)}B chunks={chunks} "
              f"waves=1,10,100 pause=0 tick={a.tick}s workers={a.workers} state={state} "
              f"done={totals['done']} waves_complete_at=[{', '.join('%.1fs' % w for w in waves)}] "
              f"campaign_total={t_done:.1f}s sim_chunks={sim.stats.chunks} "
              f"refused={sim.ota_stats['refused']} engine_errors={len(errs)} {cpu}")
        return 0 if ok else 1
    finally:
        stop.set()
        await fleet_rig.teardown(sim, procs, broker, tmp, a.keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="sqlite", help="sqlite | pg | a database URL (recreated)")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--payload", default="firmware", help="'firmware' (this checkout's bundle) or a size in bytes")
    ap.add_argument("--workers", type=int, default=1, help="bridge processes (worker 0 publishes)")
    ap.add_argument("--tick", type=float, default=1.0, help="campaign engine period (s)")
    ap.add_argument("--max-in-flight-gates", type=int, default=0, help="campaign max in flight (0: all)")
    fleet_rig.add_common_args(ap, poll=0.2, timeout=900.0)
    sys.exit(asyncio.run(run(ap.parse_args())))


if __name__ == "__main__":
    main()
