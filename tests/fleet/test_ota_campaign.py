"""The rollout campaign engine (fleet/services/ota.py) on SQLite and
PostgreSQL, through the service layer and the bridge's state parsing: waves,
in-flight cap, automatic halt, pause / resume / cancel, rollbacks counted,
reports that must change nothing, two fleet processes ticking at once."""

from __future__ import annotations

import datetime as dt
import threading

import cbor2
import pytest
from sqlalchemy import func, select

from ota_helpers import FLEET_KEY, RELEASE_PUB, build, dev_id, publish, report, seed_gates

from fleet.broker_bridge import topics, wire
from fleet.core import errors
from fleet.models import Alert, AuditLog, Blob, CampaignDevice, ControlOutbox, utcnow
from fleet.services import ota
from greengate.control import envelope
from greengate.ota import release as ota_release

T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)


def at(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def offers(db, campaign_id=None) -> list[ControlOutbox]:  # noqa: ANN001
    rows = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "ota").order_by(ControlOutbox.id)).all()
    return [r for r in rows if campaign_id is None or r.body["campaign"] == campaign_id]


def statuses(db, cid: int) -> dict[str, str]:  # noqa: ANN001
    return dict(db.execute(select(CampaignDevice.device_id, CampaignDevice.status)
                           .where(CampaignDevice.campaign_id == cid)).all())


def step(db, cid: int, now: dt.datetime):  # noqa: ANN001, ANN201
    c = ota.lock(db, cid)
    ota.advance(db, c, now)
    db.flush()
    return c


def finish(db, cid: int, devices, release: int = 7, phase: int = 5, reason: int = 0) -> None:  # noqa: ANN001
    for d in devices:
        report(db, d, release, phase, 100 if phase == 5 else 0, reason, cid)
    db.flush()


def test_wave_assignment_is_stable_and_reproducible():
    ids = [dev_id(i) for i in range(1000)]
    assert ota.wave_cuts(1000, [1, 10, 100]) == [10, 100, 1000]
    assert ota.wave_cuts(5, [1, 10, 100]) == [1, 1, 5]          # a first wave is never empty
    assert ota.wave_cuts(0, [50, 100]) == [0, 0]
    first = sorted(ids, key=ota.rank_key)[:10]
    assert sorted(ids[::-1], key=ota.rank_key)[:10] == first   # independent of input order
    pct = [d for d in ids if ota.in_percent(d, 20)]
    assert 150 < len(pct) < 250                                # a hash, not the id order
    assert set(first) <= set(pct)                              # the same canaries first
    for bad in ([], [10, 5, 100], [1, 10], [0, 100], ["1", 100], list(range(1, 12)) + [100]):
        with pytest.raises(errors.BadRequest):
            ota.check_waves(bad)


def test_campaign_waves_offers_and_done(session_factory):
    with session_factory() as db:
        ids = seed_gates(db, 200)
        publish(db, 7)
        c = ota.create(db, 7, {"kind": "all", "value": None}, [1, 10, 100], "test", pause_s=60,
                       max_in_flight=500)
        waves = dict(db.execute(select(CampaignDevice.wave, func.count()).where(
            CampaignDevice.campaign_id == c.id).group_by(CampaignDevice.wave)).all())
        assert waves == {0: 2, 1: 18, 2: 180}
        assert offers(db) == []                                  # a draft sends nothing
        ota.start(db, c.id, "test", now=at(0))
        sent = offers(db, c.id)
        first = {d for d, s in statuses(db, c.id).items() if s == "offered"}
        assert {r.body["device"] for r in sent} == first and len(first) == 2
        assert all(not r.retain and r.topic == topics.ota(r.body["device"]) for r in sent)
        # the offer is a fleet-signed kind 8, device scope, carrying offer_body
        blob = lambda sha: db.get(Blob, sha).data  # noqa: E731
        signed = wire.sign_control("ota", sent[0].id, sent[0].body, FLEET_KEY, blob)
        opened = envelope.open_message(signed, [envelope.raw_public(FLEET_KEY)])
        assert (opened.kind, opened.scope) == (8, [2, sent[0].body["device"]])
        assert opened.body[3] == c.id
        info = ota_release.verify_manifest(opened.body[1], [RELEASE_PUB])
        assert info["release"] == 7 and opened.body[2][1].hex() == info["payload_sha256"]
        db.commit()

        finish(db, c.id, first)
        step(db, c.id, at(10))
        assert c.wave == 0 and c.wave_complete_at == at(10)      # complete, pausing 60 s
        assert len(offers(db, c.id)) == 2
        step(db, c.id, at(71))
        assert c.wave == 1 and len(offers(db, c.id)) == 20
        finish(db, c.id, [d for d, s in statuses(db, c.id).items() if s == "offered"])
        step(db, c.id, at(72))
        step(db, c.id, at(200))
        assert c.wave == 2 and len(offers(db, c.id)) == 200
        finish(db, c.id, ids)
        step(db, c.id, at(201))
        assert c.state == "done" and c.finished_at == at(201)
        actions = db.scalars(select(AuditLog.action).where(AuditLog.target_type == "campaign")
                             .order_by(AuditLog.id)).all()
        assert actions == ["ota.campaign.create", "ota.campaign.start", "ota.campaign.wave_complete",
                           "ota.campaign.wave", "ota.campaign.wave_complete", "ota.campaign.wave",
                           "ota.campaign.wave_complete", "ota.campaign.done"]
        s = ota.summary(db, c)
        assert s["totals"]["done"] == 200 and [w["done"] for w in s["waves"]] == [2, 18, 180]


def test_in_flight_cap(session_factory):
    with session_factory() as db:
        seed_gates(db, 50)
        publish(db, 7)
        c = ota.create(db, 7, {"kind": "all", "value": None}, [100], "test", max_in_flight=8)
        ota.start(db, c.id, "test", now=at(0))
        assert len(offers(db)) == 8
        step(db, c.id, at(1))
        assert len(offers(db)) == 8                                # no slot freed
        offered = [d for d, s in statuses(db, c.id).items() if s == "offered"]
        report(db, offered[0], 7, 1, 40, 0, c.id)                  # still in flight
        finish(db, c.id, offered[1:4])
        step(db, c.id, at(2))
        assert len(offers(db)) == 11


@pytest.mark.parametrize("phase", [7, 6])
def test_halts_when_a_wave_fails_past_the_threshold(session_factory, phase):
    """5 % of the 10 % wave fail (or roll back): the campaign halts there,
    the next wave gets no offer, unstarted offers are withdrawn, an alert is raised."""
    with session_factory() as db:
        seed_gates(db, 400)
        publish(db, 7)
        c = ota.create(db, 7, {"kind": "all", "value": None}, [10, 50, 100], "test", pause_s=0,
                       failure_threshold_pct=2.0, max_in_flight=1000)
        ota.start(db, c.id, "test", now=at(0))
        wave0 = sorted(d for d, s in statuses(db, c.id).items() if s == "offered")
        assert len(wave0) == 40
        finish(db, c.id, wave0[2:30])
        finish(db, c.id, wave0[:2], phase=phase, reason=53)        # 2 of 40 = 5 %
        step(db, c.id, at(5))
        assert c.state == "halted" and c.wave == 0
        assert c.halt_reason["wave"] == 0 and c.halt_reason["size"] == 40
        assert c.halt_reason["failed" if phase == 7 else "rolled_back"] == 2
        st = statuses(db, c.id)
        assert sum(s == "pending" for s in st.values()) == 360 + 10   # 10 offers withdrawn
        n = len(offers(db))
        step(db, c.id, at(100))                                    # halted: the engine waits
        assert len(offers(db)) == n and c.state == "halted"
        alert = db.scalar(select(Alert).where(Alert.kind == "OTA_HALTED"))
        assert alert.detail["campaign"] == c.id and alert.detail["wave"] == 0
        # resuming accepts the 2 failures seen; a 3rd one alone (2.5 % of 40) halts again
        ota.resume(db, c.id, "admin", now=at(200))
        assert c.state == "running" and c.accepted_failures == {"0": 2, "1": 0, "2": 0}
        assert len(offers(db)) == n + 10
        finish(db, c.id, [d for d in wave0[30:] if d != wave0[35]])
        step(db, c.id, at(201))
        assert c.state == "running"
        finish(db, c.id, [wave0[35]], phase=7, reason=51)
        step(db, c.id, at(202))
        assert c.state == "halted"
        ota.cancel(db, c.id, "admin", now=at(300))
        assert c.state == "cancelled"
        with pytest.raises(errors.Conflict):
            ota.resume(db, c.id, "admin")
        actions = db.scalars(select(AuditLog.action).where(AuditLog.target_type == "campaign")).all()
        assert actions.count("ota.campaign.halt") == 2 and "ota.campaign.cancel" in actions


def test_pause_resume_cancel(session_factory):
    with session_factory() as db:
        seed_gates(db, 30)
        publish(db, 7)
        c = ota.create(db, 7, {"kind": "all", "value": None}, [100], "test", max_in_flight=10)
        with pytest.raises(errors.Conflict):
            ota.pause(db, c.id, "admin")                           # a draft is not running
        ota.start(db, c.id, "test", now=at(0))
        with pytest.raises(errors.Conflict):
            ota.start(db, c.id, "test")
        offered = sorted(d for d, s in statuses(db, c.id).items() if s == "offered")
        report(db, offered[0], 7, 1, 10, 0, c.id)                  # one gate started
        ota.pause(db, c.id, "admin")
        st = statuses(db, c.id)
        assert st[offered[0]] == "downloading" and sum(s == "pending" for s in st.values()) == 29
        n = len(offers(db))
        step(db, c.id, at(50))
        assert len(offers(db)) == n                                # paused: nothing new
        report(db, offered[0], 7, 5, 100, 0, c.id)                 # a started gate finishes
        assert statuses(db, c.id)[offered[0]] == "done"
        ota.resume(db, c.id, "admin", now=at(60))
        assert c.state == "running" and len(offers(db)) == n + 10
        ota.cancel(db, c.id, "admin", now=at(70))
        assert c.state == "cancelled"
        assert sum(s == "pending" for s in statuses(db, c.id).values()) == 29
        for verb in (ota.pause, ota.cancel):
            with pytest.raises(errors.Conflict):
                verb(db, c.id, "admin")


def test_rollback_is_counted_and_reports_that_change_nothing(session_factory):
    with session_factory() as db:
        ids = seed_gates(db, 20)
        publish(db, 7)
        publish(db, 8)
        c = ota.create(db, 7, {"kind": "devices", "value": ids[:5]}, [100], "test",
                       failure_threshold_pct=50)
        ota.start(db, c.id, "test", now=at(0))
        a, b = sorted(statuses(db, c.id))[:2]
        for phase, status in ((1, "downloading"), (2, "verifying"), (3, "switching"),
                              (4, "probation"), (6, "rolled_back")):
            report(db, a, 7, phase, 100, 55 if phase == 6 else 0, c.id)
            assert statuses(db, c.id)[a] == status
        assert ota.summary(db, c)["totals"]["rolled_back"] == 1
        report(db, b, 7, 5, 100, 0, c.id)
        report(db, b, 7, 7, 0, ota.OTA_REPLAY, c.id)             # the offer again, once installed
        assert statuses(db, c.id)[b] == "done"
        report(db, b, 7, 6, 100, 57, c.id)                         # a later rollback still counts
        assert statuses(db, c.id)[b] == "rolled_back"
        b = sorted(statuses(db, c.id))[2]
        report(db, b, 8, 5, 100, 0, c.id)                          # another release
        report(db, b, 7, 5, 100, 0, c.id + 1)                      # another campaign
        report(db, b, 7, 0, 0, 0, c.id)                            # idle
        report(db, ids[10], 7, 5, 100, 0, c.id)                    # not in the campaign
        assert statuses(db, c.id)[b] == "offered" and ids[10] not in statuses(db, c.id)


def test_offline_gates_wait_and_silent_ones_get_the_offer_again(session_factory):
    """Offers are not retained: an offline gate is not offered (and does not
    hold its wave back) until it is online; an online gate that never reports
    gets the offer again after 10 minutes; a stalled one no longer holds the wave."""
    from fleet.models import Device

    with session_factory() as db:
        ids = seed_gates(db, 10)
        publish(db, 7)
        c = ota.create(db, 7, {"kind": "all", "value": None}, [50, 100], "test", pause_s=0,
                       stall_s=3600)
        wave0 = sorted(d for d, w in db.execute(select(CampaignDevice.device_id, CampaignDevice.wave)
                                                .where(CampaignDevice.campaign_id == c.id)) if w == 0)
        asleep, silent = wave0[0], wave0[1]
        db.get(Device, asleep).online = False
        ota.start(db, c.id, "test", now=at(0))
        assert statuses(db, c.id)[asleep] == "pending" and asleep not in {r.body["device"] for r in offers(db)}
        finish(db, c.id, [d for d in wave0 if d not in (asleep, silent)])
        step(db, c.id, at(60))
        assert c.wave == 0 and len(offers(db)) == 4               # the silent gate holds the wave
        step(db, c.id, at(601))
        assert len(offers(db)) == 5 and offers(db)[-1].body["device"] == silent   # sent again
        step(db, c.id, at(601 + 3601))                             # silent past stall_s
        assert c.wave == 1 and statuses(db, c.id)[asleep] == "pending"
        db.get(Device, asleep).online = True                       # back: it gets its offer
        step(db, c.id, at(5000))
        assert statuses(db, c.id)[asleep] == "offered"
        assert ota.summary(db, c)["waves"][0]["offline"] == 0
        assert len(ids) == 10


def test_targets(session_factory):
    with session_factory() as db:
        tp = seed_gates(db, 6, ward="Tân Phong", business="B1")
        tq = seed_gates(db, 4, ward="Tân Quy", business="B2", first=100)
        publish(db, 7)

        def target(sel):  # noqa: ANN001, ANN202
            return sorted(statuses(db, ota.create(db, 7, sel, [100], "t").id))
        assert target({"kind": "ward", "value": "Tân Quy"}) == tq
        assert target({"kind": "business", "value": "B1"}) == tp
        assert target(ota.parse_target("devices:" + ",".join(tq[:2]))) == tq[:2]
        assert target(ota.parse_target("all")) == sorted(tp + tq)
        assert target(ota.parse_target("percent:100")) == sorted(tp + tq)
        with pytest.raises(errors.NotFound):
            ota.create(db, 7, {"kind": "devices", "value": [dev_id(999)]}, [100], "t")
        with pytest.raises(errors.BadRequest):
            ota.create(db, 7, {"kind": "ward", "value": "Nowhere"}, [100], "t")
        for bad in ("ward", "percent:x", "everything", "percent:0"):
            with pytest.raises(errors.BadRequest):
                ota.create(db, 7, ota.parse_target(bad), [100], "t")
        with pytest.raises(errors.NotFound):
            ota.create(db, 99, {"kind": "all", "value": None}, [100], "t")


def test_two_fleet_processes_tick_at_once(session_factory):
    """Several `serve` processes run the engine: under the campaign row lock
    each gate gets exactly one offer."""
    with session_factory() as db:
        seed_gates(db, 300)
        publish(db, 7)
        c = ota.create(db, 7, {"kind": "all", "value": None}, [10, 100], "test", pause_s=0,
                       max_in_flight=1000)
        ota.start(db, c.id, "test", now=utcnow())
        cid = c.id
        db.commit()
        wave0 = [d for d, s in statuses(db, cid).items() if s == "offered"]
        finish(db, cid, wave0)
        db.commit()
    barrier = threading.Barrier(4)
    errs = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                ota.tick(session_factory)
        except Exception as e:  # noqa: BLE001 reported below
            errs.append(e)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errs == []
    with session_factory() as db:
        rows = offers(db, cid)
        assert len(rows) == 300 and len({r.body["device"] for r in rows}) == 300
        waves = db.scalars(select(AuditLog.detail).where(AuditLog.action == "ota.campaign.wave")).all()
        assert len(waves) == 1


def test_release_keys_are_apart_from_the_fleet_key(session_factory):
    """A manifest signed with the fleet's control key is refused by the
    library's verify and by publish; the fleet key is never a release key;
    a payload that does not match its manifest is refused."""
    with session_factory() as db:
        fleet_signed = build(9, key=FLEET_KEY)
        with pytest.raises(ota_release.ReleaseError):
            ota_release.verify_manifest(fleet_signed.manifest, [RELEASE_PUB])
        from fleet.services import releases
        with pytest.raises(errors.BadRequest) as e:
            releases.publish(db, fleet_signed, [RELEASE_PUB], envelope.raw_public(FLEET_KEY), "t")
        assert e.value.code == "RELEASE_INVALID"
        with pytest.raises(errors.ConfigError) as e:
            releases.publish(db, fleet_signed, [RELEASE_PUB, envelope.raw_public(FLEET_KEY)],
                             envelope.raw_public(FLEET_KEY), "t")
        assert e.value.code == "RELEASE_KEY_IS_FLEET_KEY"
        good = build(9)
        tampered = ota_release.Release(good.manifest, good.payload[:-1] + b"\0", good.info)
        with pytest.raises(errors.BadRequest):
            releases.publish(db, tampered, [RELEASE_PUB], None, "t")
        row = releases.publish(db, good, [RELEASE_PUB], None, "t")
        assert releases.publish(db, good, [RELEASE_PUB], None, "t") is row   # idempotent
        with pytest.raises(errors.Conflict):
            releases.publish(db, build(9, version="other"), [RELEASE_PUB], None, "t")
        assert db.get(Blob, row.payload_sha256).data == good.payload
        with pytest.raises(errors.ConfigError):
            releases.publish(db, build(10), [], None, "t")
        assert cbor2.loads(row.manifest).tag == 18


def test_bridge_serves_a_blob_only_if_its_bytes_match_its_name(session_factory):
    """The bridge hashes a blob once when it loads it (then answers fetches
    from its cache without hashing 240 KB again per request): a damaged row
    is never served."""
    import hashlib

    from fleet.broker_bridge.bridge import Bridge, BrokerParams
    from greengate.control import blobs

    with session_factory() as db:
        row = publish(db, 7)
        good = db.get(Blob, row.payload_sha256).data
        bad_sha = hashlib.sha256(b"what the name promises").hexdigest()
        db.add(Blob(sha256=bad_sha, kind="firmware", data=b"something else"))
        db.commit()
        bridge = Bridge(session_factory, BrokerParams(), None, publish=False)
        assert bridge._blob(db, row.payload_sha256) == good
        assert bridge._blob(db, bad_sha) is None
        req = blobs.FetchRequest(bytes.fromhex(row.payload_sha256), 2, 3)
        assert blobs.answer_fetch(req, good, checked=True) == blobs.answer_fetch(req, good)
        with pytest.raises(ValueError):
            blobs.answer_fetch(blobs.FetchRequest(bytes(32), 0, 1), good)
