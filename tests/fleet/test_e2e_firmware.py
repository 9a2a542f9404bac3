"""End to end with the real firmware: the fleet service (bridge + services)
and the MicroPython firmware under `greengate sim`, through Debian's
mosquitto. The gate gets its signed trust list, revocation list (blobs
fetched in chunks from the bridge) and site configuration from the fleet,
admits a pass the fleet issued, and the scan lands in the fleet database;
then the F0 workflow revokes the pass and suspends the business, and the
same gate denies with REVOKED and SUSPENDED; once the business is reinstated
and the revocation lifted it admits the pass again; a screenshot command comes back
as a PNG."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from fleet.broker_bridge.bridge import Bridge, BrokerParams
from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.models import Alert, BusinessStatus, Device, Scan
from fleet.services import control, devices as device_svc, f0, passes, registry, revocations
from fleet_helpers import dev_id, file_fleet, seed_registry, sim_root, wait_until
from greengate.passes import reasons
from greengate.sim.terminal import SimTerminal

pytestmark = pytest.mark.slow
DEV = dev_id(0xE2E)


def kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


def test_fleet_and_real_firmware(tmp_path, mosquitto_broker):
    settings, engine, sessions = file_fleet(tmp_path)
    with sessions() as db:
        site, _ = seed_registry(db, (DEV,))
        site_id = site.id
        good, good_qr = passes.issue_pass(db, settings, passes.PassRequest(
            role=0, initials="TVB", birth_year=1985), "test")
        other, other_qr = passes.issue_pass(db, settings, passes.PassRequest(
            role=0, initials="LTC", birth_year=1979), "test")
        db.commit()
    fleet_key = load_or_create_fleet_key(settings.signing_key_path, create=True)
    bridge = Bridge(sessions, BrokerParams(port=mosquitto_broker.port), fleet_key, poll_s=0.05).start()
    root = sim_root(tmp_path, DEV, site_id, fleet_key)
    try:
        with SimTerminal(root, device_id=DEV,
                         broker=f"mqtt://127.0.0.1:{mosquitto_broker.port}") as sim:
            for k in (2, 3, 1):  # trust, revocation (blob fetched from the bridge), config
                ev = sim.wait_for(kind("control", msg_kind=k), timeout=60)
                assert ev["applied"] is True, ev
            sim.wait_for(kind("screen", screen="idle"), timeout=30)
            sim.wait_for(kind("scanner", state="ready"), timeout=30)  # a scan during set-up is lost

            last_scan: dict[str, float] = {}

            def decide(qr):
                # the scanner drops the same code seen again within repeat_ms (3 s)
                wait = last_scan.get(qr, 0) + 3.5 - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                n = len(sim.events())
                sim.scan(qr)
                last_scan[qr] = time.monotonic()
                return sim.wait_for(kind("decision"), after=n, timeout=30)

            d = decide(good_qr)
            assert d["verdict"] is True, d

            def scan_rows():
                with sessions() as db:
                    return db.scalars(select(Scan).where(Scan.device_id == DEV).order_by(Scan.seq)).all()
            rows = wait_until(scan_rows, timeout=30)
            assert (rows[0].pass_hash, rows[0].verdict, rows[0].reason) == (good.pass_hash, True, 0)
            with sessions() as db:
                dev = wait_until(lambda: (x := db.get(Device, DEV)) and x.online and x.config_version and x)
                assert dev.config_version == control.desired_version(db, f"gg/v1/dev/{DEV}/config")

            # F0: mark -> revoked on the gate; exposure = this site; suspend -> SUSPENDED
            with sessions() as db:
                case = f0.mark_f0(db, good.pass_hash, "operator", 14, 2)
                assert [e["site_id"] for e in case.exposure] == [site_id]
                db.commit()
            n = len(sim.events())
            sim.wait_for(kind("control", msg_kind=3, applied=True), after=n, timeout=60)
            d = decide(good_qr)
            assert d["verdict"] is False and d["reason"] == "REVOKED", d
            with sessions() as db:
                f0.suspend_affected(db, db.get(type(case), case.id), "operator")
                db.commit()
            n = len(sim.events())
            sim.wait_for(kind("control", msg_kind=1, applied=True), after=n, timeout=60)
            d = decide(other_qr)
            assert d["verdict"] is False and d["reason"] == "SUSPENDED", d
            rows = wait_until(lambda: len(r := scan_rows()) == 3 and r, timeout=30)
            assert [r.reason for r in rows] == [0, reasons.code("REVOKED"), reasons.code("SUSPENDED")]
            with sessions() as db:
                assert db.scalar(select(Alert).where(Alert.kind == "REVOKED_PRESENTED")) is not None

            # the case closes: business reinstated, revocation lifted (a delta
            # that removes the hash) -> the same pass is admitted again
            with sessions() as db:
                registry.set_business_status(db, registry.get_business(db, "B1"),
                                             BusinessStatus.APPROVED, "operator")
                revocations.lift(db, good.pass_hash, "RECOVERED", "operator")
                db.commit()
            n = len(sim.events())
            sim.wait_for(kind("control", msg_kind=1, applied=True), after=n, timeout=60)
            sim.wait_for(kind("control", msg_kind=3, applied=True), after=n, timeout=60)
            d = decide(good_qr)
            assert d["verdict"] is True, d

            # a signed screenshot command comes back as a PNG, in chunks
            with sessions() as db:
                control.enqueue_command(db, DEV, "screenshot", {"chunk_size": 512})
                db.commit()

            def shot():
                with sessions() as db:
                    return device_svc.latest_screenshot(db, DEV)
            assert wait_until(shot, timeout=40).startswith(b"\x89PNG")
    finally:
        with sessions() as db:  # what the fleet sent, for the failure report
            from fleet.models import ControlOutbox
            for r in db.scalars(select(ControlOutbox).order_by(ControlOutbox.id)):
                print("outbox", r.id, r.kind, r.topic, r.published_at is not None)
        bridge.stop()
        engine.dispose()
