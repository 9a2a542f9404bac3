"""A campaign over 1,000 simulated gates (bench/otasim.py) through a real
mosquitto running the generated production configuration (per-gate accounts
and topic rights, gg/v1/dev/{id}/ota included), the real broker bridge
(signing offers, serving the release in blob chunks, ingesting state key 15)
and the campaign engine ticking in its own thread like `serve`'s loop.

5 % of the 10 % wave fail: the campaign halts at that wave and no gate of the
last wave is offered anything. Resumed, it runs to the end; a gate of the last
wave that rolls back is counted, and the fleet's numbers equal the gates' own."""

from __future__ import annotations

import asyncio
import sys
import threading

from sqlalchemy import select

from mosquitto_helpers import bridge_params, start_generated
from mpy import REPO
from ota_helpers import FLEET_KEY, FLEET_PUB, RELEASE_PUB, dev_id, publish

sys.path.insert(0, str(REPO / "bench"))
import otasim  # noqa: E402

from fleet.broker_bridge import mosquitto_conf as mc  # noqa: E402
from fleet.broker_bridge.bridge import Bridge  # noqa: E402
from fleet.models import Business, CampaignDevice, ControlOutbox, Device, Site  # noqa: E402
from fleet.services import ota  # noqa: E402
from greengate.passes import reasons  # noqa: E402

N = 1000
WAVES = [1, 10, 100]


def password(dev: str) -> str:
    return f"pw-{dev}-secret"


def seed(sessions) -> tuple[list[str], int]:  # noqa: ANN001
    ids = [dev_id(i) for i in range(N)]
    with sessions() as db:
        db.add(Business(id="B1", name="Cửa hàng", sector="supermarket", address="1 A", ward="Tân Phong",
                        operating_mode="3_tai_cho", status="approved"))
        site = Site(business_id="B1", name="Cổng", rules=[])
        db.add(site)
        db.flush()
        db.execute(Device.__table__.insert(), [
            {"id": d, "site_id": site.id, "public_key": "00" * 32, "mqtt_username": d,
             "mqtt_password_hash": mc.password_hash(password(d)), "status": "active",
             "online": False, "tamper": False} for d in ids])
        publish(db, 7, size=20_000)                  # 27 chunks of 768 bytes
        db.commit()
    return ids, site.id


class Engine(threading.Thread):
    """`serve`'s campaign loop, ticking fast."""

    def __init__(self, sessions) -> None:  # noqa: ANN001
        super().__init__(daemon=True)
        self.sessions, self.stop, self.errors = sessions, threading.Event(), []

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                ota.tick(self.sessions)
            except Exception as e:  # noqa: BLE001 reported by the test
                self.errors.append(repr(e))


def campaign_state(sessions, cid: int) -> tuple[str, int]:  # noqa: ANN001
    with sessions() as db:
        c = ota.get(db, cid)
        return c.state, c.wave


def online_count(sessions) -> int:  # noqa: ANN001
    with sessions() as db:
        return len(db.scalars(select(Device.id).where(Device.online.is_(True))).all())


def failed_count(sessions, cid: int) -> int:  # noqa: ANN001
    with sessions() as db:
        return len(db.scalars(select(CampaignDevice.device_id).where(
            CampaignDevice.campaign_id == cid, CampaignDevice.status == "failed")).all())


async def wait_for(pred, timeout: float = 120.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(pred):
        assert loop.time() < deadline, "condition not met"
        await asyncio.sleep(0.2)


async def wait_state(sessions, cid: int, want: str, timeout: float = 240.0) -> int:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        state, wave = await asyncio.to_thread(campaign_state, sessions, cid)
        if state == want:
            return wave
        assert state in ("running", "halted"), state
        assert loop.time() < deadline, f"campaign still {state} at wave {wave}"
        await asyncio.sleep(0.2)


def test_thousand_gates_halt_at_the_failing_wave_then_finish(session_factory, tmp_path):
    ids, site_id = seed(session_factory)
    ranked = sorted(ids, key=ota.rank_key)
    cuts = ota.wave_cuts(N, WAVES)
    wave1 = ranked[cuts[0]:cuts[1]]                   # 90 gates
    failing = set(wave1[:5])                          # 5.6 % of the wave
    rolls_back = ranked[-1]                           # in the last wave
    last_wave = set(ranked[cuts[1]:])

    def fate(dev: str) -> tuple[str, int]:
        if dev in failing:
            return "fail", reasons.code("OTA_SPACE")
        if dev == rolls_back:
            return "rollback", reasons.code("OTA_PROBATION_FAILED")
        return "ok", 0

    broker = start_generated(tmp_path, session_factory)
    bridge = Bridge(session_factory, bridge_params(broker.port), FLEET_KEY, shared=True,
                    poll_s=0.05).start()
    engine = Engine(session_factory)

    async def run() -> otasim.OtaSim:
        sim = otasim.OtaSim("127.0.0.1", broker.port, ids, fleet_keys=[FLEET_PUB], release_keys=[RELEASE_PUB],
                            fate=fate, credentials=lambda d: (d, password(d)),
                            site_of=lambda _d: str(site_id))
        try:
            await sim.connect_all(timeout=120)
            # the engine offers to gates the fleet sees online: wait for their states
            await wait_for(lambda: online_count(session_factory) == N)
            with session_factory() as db:
                c = ota.create(db, 7, {"kind": "all", "value": None}, WAVES, "test", pause_s=0,
                               failure_threshold_pct=2.0, max_in_flight=N)
                ota.start(db, c.id, "test")
                db.commit()
                cid = c.id
            engine.start()
            assert await wait_state(session_factory, cid, "halted") == 1
            with session_factory() as db:
                c = ota.get(db, cid)
                assert c.halt_reason["wave"] == 1 and c.halt_reason["failed"] >= 2
                offered = {r.body["device"] for r in db.scalars(
                    select(ControlOutbox).where(ControlOutbox.kind == "ota"))}
            assert offered and not offered & last_wave
            assert all(sim.devices[d].offers_seen == 0 for d in last_wave)
            assert all(sim.devices[d].installed == 7 for d in ranked[:cuts[0]])

            # the engine halted at the first failures past 2 %; the other failing
            # gates still report theirs: resume once all five are in, accepting them
            await wait_for(lambda: failed_count(session_factory, cid) == len(failing))
            with session_factory() as db:
                ota.resume(db, cid, "admin")
                db.commit()
            await wait_state(session_factory, cid, "done")
            await sim.drain()
            return sim, cid
        finally:
            engine.stop.set()
            await sim.close()

    try:
        sim, cid = asyncio.run(run())
    finally:
        engine.join(10)
        bridge.stop()
        broker.stop()
    assert engine.errors == []
    assert sim.ota_refusals == [] and sim.stats.refused == {}
    with session_factory() as db:
        status = dict(db.execute(select(CampaignDevice.device_id, CampaignDevice.status)
                                 .where(CampaignDevice.campaign_id == cid)).all())
        codes = dict(db.execute(select(CampaignDevice.device_id, CampaignDevice.reason)
                                  .where(CampaignDevice.campaign_id == cid,
                                         CampaignDevice.reason != 0)).all())
        totals = ota.summary(db, ota.get(db, cid))["totals"]
    assert {d for d, s in status.items() if s == "failed"} == failing
    assert [d for d, s in status.items() if s == "rolled_back"] == [rolls_back]
    assert codes == {**{d: reasons.code("OTA_SPACE") for d in failing},
                     rolls_back: reasons.code("OTA_PROBATION_FAILED")}
    assert totals["done"] == N - 6 == sim.ota_stats["done"]
    assert sum(sim.devices[d].installed == 7 for d in ids) == N - 6
    assert sim.ota_stats["failed"] == 5 and sim.ota_stats["rolled_back"] == 1
