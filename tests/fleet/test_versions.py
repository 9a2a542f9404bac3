"""One version number per list (fleet/services/versions.py): gates report the
signed message version they applied (the control outbox id); pages show the
list version that message carries, and drift is judged by the message."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from fleet_helpers import pubhex

from fleet.broker_bridge import topics
from fleet.models import Business, ControlOutbox, Site, utcnow
from fleet.services import control, devices, registry, revocations, versions


def _publish_all(db) -> None:
    for row in db.scalars(select(ControlOutbox).where(ControlOutbox.published_at.is_(None))):
        row.published_at = utcnow()
    db.flush()


def _world(db):
    db.add(Business(id="B1", name="Bách hoá Xanh", sector="supermarket", address="1 Lê Văn Lương",
                    ward="Tân Phong", operating_mode="3_tai_cho", status="approved"))
    site = Site(business_id="B1", name="Cổng chính", rules=[])
    db.add(site)
    db.flush()
    dev, _ = registry.register_device(db, "gg-00000000a001", pubhex(), site.id, "1.0.0", "test")
    return site, dev


def test_config_shows_the_sites_version_not_the_message_id(session_factory):
    with session_factory() as db:
        site, dev = _world(db)
        # unrelated messages push the outbox ids far past the site's counter
        for _ in range(6):
            control.enqueue_trust_list(db)
        for _ in range(3):
            control.enqueue_site_config(db, site)
        _publish_all(db)
        newest = control.desired_version(db, topics.config(dev.id))
        assert newest > site.config_version  # the two numbers differ: the bug's premise
        devices.apply_state(db, dev.id, {"online": True, "config_version": newest})
        v = versions.for_devices(db, [dev])[dev.id]["config"]
        assert (v.applied, v.desired, v.drift) == (site.config_version, site.config_version, False)

        control.enqueue_site_config(db, site)  # a change the gate has not applied yet
        _publish_all(db)
        v = versions.for_devices(db, [dev])[dev.id]["config"]
        assert (v.applied, v.desired, v.drift, v.resign_only) == \
            (site.config_version - 1, site.config_version, True, False)


def test_a_re_signed_list_keeps_its_version(session_factory):
    with session_factory() as db:
        site, dev = _world(db)
        control.enqueue_site_config(db, site)
        _publish_all(db)
        applied = control.desired_version(db, topics.config(dev.id))
        devices.apply_state(db, dev.id, {"online": True, "config_version": applied})
        # 13 hours later the fleet re-signs the unchanged configuration
        control.enqueue_refresh(db, now=utcnow() + dt.timedelta(hours=13))
        _publish_all(db)
        v = versions.for_devices(db, [dev])[dev.id]["config"]
        assert v.drift and v.resign_only and v.applied == v.desired == site.config_version


def test_revocation_list_version_matches_the_revocations_page(session_factory):
    with session_factory() as db:
        site, dev = _world(db)
        for _ in range(5):
            control.enqueue_trust_list(db)
        revocations.revoke(db, "a1" * 16, "LOST", "op")
        _publish_all(db)
        first = versions.revocation_published(db)
        devices.apply_state(db, dev.id, {"online": True, "revocation_version": first})
        revocations.revoke(db, "b2" * 16, "F0", "op")
        assert versions.current_revocation(db) == {"version": 2, "published": 1}  # not yet sent
        _publish_all(db)
        assert versions.current_revocation(db) == {"version": 2, "published": 2}
        assert versions.revocation_published(db) > 2  # the message id is another number
        v = versions.for_devices(db, [dev])[dev.id]["revocation"]
        assert (v.applied, v.desired, v.drift) == (1, 2, True)


def test_unknown_or_hostile_applied_versions(session_factory):
    with session_factory() as db:
        site, dev = _world(db)
        control.enqueue_site_config(db, site)
        _publish_all(db)
        # a gate reporting a version the fleet never sent: shown as unknown, counted as drift
        devices.apply_state(db, dev.id, {"online": True, "config_version": 0})
        v = versions.for_devices(db, [dev])[dev.id]["config"]
        assert v.applied is None and v.drift
        # bodies without a list field (another kind) are no list version
        row = control.enqueue_command(db, dev.id, "sync")
        assert versions.list_versions(db, [row.id, None, -3, 2**40]) == {row.id: None}
        # another list's message (a revocation list v1) is no configuration version
        revocations.revoke(db, "c3" * 16, "LOST", "op")
        rev_msg = control.latest_row(db, topics.REVOCATION).id
        assert versions.list_versions(db, [rev_msg]) == {rev_msg: 1}
        assert versions.list_versions(db, [rev_msg], "config") == {rev_msg: None}
        devices.apply_state(db, dev.id, {"online": True, "config_version": rev_msg,
                                         "dcc_version": rev_msg, "dcc_keys": 1})
        v = versions.for_devices(db, [dev])[dev.id]
        assert v["config"].applied is None and v["dcc"].applied is None


def test_drift_alerts_carry_list_versions(session_factory, settings):
    from fleet.models import Alert
    from fleet.services import alerts

    with session_factory() as db:
        site, dev = _world(db)
        for _ in range(4):
            control.enqueue_trust_list(db)
        control.enqueue_site_config(db, site)
        _publish_all(db)
        devices.apply_state(db, dev.id, {"online": True,
                                         "config_version": control.desired_version(db, topics.config(dev.id))})
        control.enqueue_site_config(db, site)
        for row in db.scalars(select(ControlOutbox).where(ControlOutbox.published_at.is_(None))):
            row.published_at = utcnow() - dt.timedelta(hours=1)  # past the drift grace
        alerts.evaluate(db, settings)
        a = db.scalar(select(Alert).where(Alert.kind == "CONFIG_DRIFT"))
        assert a.detail == {"applied": 1, "desired": 2}  # the site's versions, not outbox ids


# -- the DCC signer table (kind 7, state key 16) ---------------------------------------

DCC_LIST = "dcc-trustlist/trustlist_de.json"
DCC_CLOCK = int(dt.datetime(2023, 6, 1, tzinfo=dt.timezone.utc).timestamp())


def _dcc_import(db, testdata, n: int, source: str) -> None:
    import json

    from fleet.services import dcc

    certs = json.loads((testdata / DCC_LIST).read_bytes())["certificates"][:n]
    dcc.import_trustlist(db, json.dumps({"certificates": certs}).encode(), source, "test", now=DCC_CLOCK)


def test_dcc_table_shows_the_list_version_not_the_message_id(session_factory, testdata):
    from fleet.models import DccList

    with session_factory() as db:
        site, dev = _world(db)
        for _ in range(5):  # unrelated messages: outbox ids run ahead of list versions
            control.enqueue_trust_list(db)
        _dcc_import(db, testdata, 40, "a")
        _publish_all(db)
        first_msg = versions.dcc_published(db)
        first_list = db.scalar(select(DccList.id))
        assert first_msg != first_list  # the two numbers differ: the bug's premise
        devices.apply_state(db, dev.id, {"online": True, "dcc_version": first_msg, "dcc_keys": 40})
        v = versions.for_devices(db, [dev])[dev.id]["dcc"]
        assert (v.applied, v.desired, v.drift) == (first_list, first_list, False)
        assert versions.current_dcc(db) == {"version": first_list, "published": first_list,
                                            "message": first_msg}

        _dcc_import(db, testdata, 41, "b")  # a new list, not published yet
        assert versions.current_dcc(db)["version"] == first_list + 1
        assert versions.current_dcc(db)["published"] == first_list
        _publish_all(db)
        v = versions.for_devices(db, [dev])[dev.id]["dcc"]
        assert (v.applied, v.desired, v.drift, v.resign_only) == (first_list, first_list + 1, True, False)


def test_a_re_signed_dcc_table_keeps_its_version(session_factory, testdata):
    from fleet.services import dcc

    with session_factory() as db:
        site, dev = _world(db)
        _dcc_import(db, testdata, 40, "a")
        _publish_all(db)
        applied = versions.dcc_published(db)
        devices.apply_state(db, dev.id, {"online": True, "dcc_version": applied, "dcc_keys": 40})
        control.enqueue_refresh(db, now=utcnow() + dt.timedelta(hours=13))  # re-signed, same list
        _publish_all(db)
        assert versions.dcc_published(db) > applied
        v = versions.for_devices(db, [dev])[dev.id]["dcc"]
        assert v.drift and v.resign_only and v.applied == v.desired == 1
        # the /ui/dcc page's numbers: the same list version, the gate behind by its message
        data = dcc.dashboard(db, DCC_CLOCK)
        assert data["list"].id == data["current"]["version"] == data["current"]["published"] == 1
        assert data["sync"]["in_sync"] == 0
        assert data["sync"]["behind"][0]["list"] == {"applied": 1, "desired": 1, "drift": True,
                                                     "resign_only": True}


def test_a_gate_without_a_dcc_table_is_not_drift(session_factory, testdata):
    with session_factory() as db:
        site, dev = _world(db)
        v = versions.for_devices(db, [dev])[dev.id]["dcc"]  # nothing imported, nothing reported
        assert (v.applied, v.desired, v.drift) == (None, None, False)
        _dcc_import(db, testdata, 40, "a")
        _publish_all(db)
        v = versions.for_devices(db, [dev])[dev.id]["dcc"]  # state key 16 absent: older firmware
        assert (v.applied, v.desired, v.drift) == (None, 1, False)
        # a message id the fleet never sent: unknown, and behind
        devices.apply_state(db, dev.id, {"online": True, "dcc_version": 0, "dcc_keys": 3})
        v = versions.for_devices(db, [dev])[dev.id]["dcc"]
        assert v.applied is None and v.desired == 1 and v.drift


def test_dcc_drift_alert_carries_list_versions(session_factory, settings, testdata):
    from fleet.models import Alert
    from fleet.services import alerts

    with session_factory() as db:
        site, dev = _world(db)
        for _ in range(4):
            control.enqueue_trust_list(db)
        _dcc_import(db, testdata, 40, "a")
        _publish_all(db)
        devices.apply_state(db, dev.id, {"online": True, "dcc_version": versions.dcc_published(db),
                                         "dcc_keys": 40})
        _dcc_import(db, testdata, 42, "b")
        for row in db.scalars(select(ControlOutbox).where(ControlOutbox.published_at.is_(None))):
            row.published_at = utcnow() - dt.timedelta(hours=1)  # past the drift grace
        alerts.evaluate(db, settings)
        a = db.scalar(select(Alert).where(Alert.kind == "DCC_DRIFT"))
        assert a.detail == {"applied": 1, "desired": 2}  # list versions, not outbox ids
