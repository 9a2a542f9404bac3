"""Issue 12, alarm handling: every alert kind is grouped (kind, subject,
group fields) with count, first and last seen; REVOKED_PRESENTED groups per
pass at a business (23 scans of one lost card = one alert, count 23);
severity per kind; acknowledging one or many with a note is audited and
the next occurrence opens a new group. Concurrent raisers (several bridge
workers) add up in the one open group: the raise is an atomic upsert."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from fleet.core import errors
from fleet.models import Alert, AuditLog, Device
from fleet.services import alerts, scans
from fleet_helpers import dev_id, seed_registry

G1, G2, G3 = dev_id(0xC1), dev_id(0xC2), dev_id(0xC3)
LOST, OTHER = "ab" * 16, "cd" * 16
REVOKED = scans.REVOKED_REASON


def scan(seq: int, pass_hash: str | None, reason: int = REVOKED) -> dict:
    return {"seq": seq, "time": 1_700_000_000 + seq, "time_valid": True, "pass_hash": pass_hash,
            "verdict": reason == 0, "reason": reason}


def open_groups(db, kind: str = "REVOKED_PRESENTED") -> list[Alert]:
    return list(db.scalars(select(Alert).where(Alert.kind == kind, Alert.acknowledged_at.is_(None))
                           .order_by(Alert.id)))


def seed(db) -> None:
    seed_registry(db, (G1, G2), "B1")
    seed_registry(db, (G3,), "B2")


def test_23_scans_of_a_lost_card_are_one_alert(session_factory):
    with session_factory() as db:
        seed(db)
        # 23 presentations at two gates of B1 in batches of 1, 5 and 17, and
        # admissions and other denials between them that raise nothing
        seq = 0
        for gate, n in ((G1, 1), (G2, 5), (G1, 17)):
            batch = []
            for _ in range(n):
                seq += 1
                batch += [scan(seq, LOST), scan(seq + 1000, "ef" * 16, 0), scan(seq + 2000, None, 3)]
            scans.ingest_for_device(db, gate, batch)
            db.commit()
        # a QoS 1 re-delivery of the last batch adds nothing
        scans.ingest_for_device(db, G1, batch)
        db.commit()
        [a] = open_groups(db)
        assert (a.count, a.business_id, a.severity) == (23, "B1", "critical")
        assert a.detail == {"pass_hash": LOST, "seq": seq} and a.device_id == G1  # the last gate
        assert a.created_at <= a.last_seen_at
        assert a.notify_state == "pending"  # a new critical group: queued for the webhook once
        # another pass, and the same pass at another business, are other groups
        scans.ingest_for_device(db, G1, [scan(100, OTHER)])
        scans.ingest_for_device(db, G3, [scan(1, LOST), scan(2, LOST)])
        db.commit()
        got = sorted((g.detail["pass_hash"], g.business_id, g.count) for g in open_groups(db))
        assert got == [(LOST, "B1", 23), (LOST, "B2", 2), (OTHER, "B1", 1)]


def test_acknowledge_closes_the_group_and_the_next_scan_opens_a_new_one(session_factory):
    with session_factory() as db:
        seed(db)
        scans.ingest_for_device(db, G1, [scan(i, LOST) for i in range(1, 4)])
        db.commit()
        [a] = open_groups(db)
        acked = alerts.acknowledge(db, [a.id], "operator", "  card holder called, card destroyed ")
        db.commit()
        assert [x.id for x in acked] == [a.id] and a.ack_note == "card holder called, card destroyed"
        audit = db.scalar(select(AuditLog).where(AuditLog.action == "alert.ack"))
        assert (audit.actor, audit.target_id) == ("operator", str(a.id))
        assert audit.detail == {"kind": "REVOKED_PRESENTED", "count": 3,
                                "note": "card holder called, card destroyed"}
        with pytest.raises(errors.Conflict):
            alerts.acknowledge(db, a.id, "operator")
        scans.ingest_for_device(db, G1, [scan(4, LOST)])
        db.commit()
        [b] = open_groups(db)
        assert b.id != a.id and b.count == 1 and b.notify_state == "pending"
        assert db.get(Alert, a.id).count == 3


def test_acknowledge_many_scope_and_bad_requests(session_factory):
    with session_factory() as db:
        seed(db)
        scans.ingest_for_device(db, G1, [scan(1, LOST), scan(2, OTHER)])
        scans.ingest_for_device(db, G3, [scan(1, LOST)])
        db.commit()
        b1 = [g.id for g in open_groups(db) if g.business_id == "B1"]
        b2 = [g.id for g in open_groups(db) if g.business_id == "B2"]
        # a manager of B1 may not touch B2's alert: nothing is acknowledged
        with pytest.raises(errors.Forbidden):
            alerts.acknowledge(db, b1 + b2, "mgr", scope="B1")
        db.rollback()
        assert len(open_groups(db)) == 3
        alerts.acknowledge(db, b1[:1], "op")
        # in a batch an already acknowledged id is skipped, the rest is done
        done = alerts.acknowledge(db, b1 + b2, "op", "night shift review")
        assert sorted(a.id for a in done) == sorted(b1[1:] + b2)
        db.commit()
        assert open_groups(db) == []
        for ids, note, exc in (([], "", errors.BadRequest), (list(range(1, 502)), "", errors.BadRequest),
                               (b1, "x" * 301, errors.BadRequest), ([999_999], "", errors.NotFound)):
            with pytest.raises(exc):
                alerts.acknowledge(db, ids, "op", note)


def test_every_fleet_check_is_grouped(session_factory, settings):
    with session_factory() as db:
        seed(db)
        d = db.get(Device, G1)
        d.tamper, d.clock_drift_s, d.outbox_depth = True, 900.0, 10_000
        db.commit()
        first = sorted((a.kind, a.severity) for a in alerts.evaluate(db, settings))
        assert first == [("CLOCK_DRIFT", "info"), ("OUTBOX_BACKLOG", "info"), ("TAMPER", "critical")]
        db.commit()
        assert alerts.evaluate(db, settings) == []  # still true: counted, not raised again
        db.commit()
        counts = {a.kind: a.count for a in db.scalars(select(Alert))}
        assert counts == {"CLOCK_DRIFT": 2, "OUTBOX_BACKLOG": 2, "TAMPER": 2}
        tamper = db.scalar(select(Alert).where(Alert.kind == "TAMPER"))
        alerts.acknowledge(db, tamper.id, "op")
        db.commit()
        assert [a.kind for a in alerts.evaluate(db, settings)] == ["TAMPER"]  # a new group


def test_every_kind_has_a_severity():
    assert set(alerts.SEVERITY) == set(alerts.KINDS)
    assert set(alerts.SEVERITY.values()) == set(alerts.SEVERITIES)


def test_long_group_fields_keep_distinct_keys():
    a = alerts.group_key("CONTROL_REJECTED", "dev:" + G1, {"reason": "x" * 300})
    b = alerts.group_key("CONTROL_REJECTED", "dev:" + G1, {"reason": "x" * 299 + "y"})
    assert len(a) <= 200 and len(b) <= 200 and a != b


def test_concurrent_raisers_add_up_in_one_group(session_factory):
    """Four workers (own sessions and transactions) raise the same group 25
    times each: one open group, count 100. On PostgreSQL the upserts really
    run at once; SQLite serialises the writers."""
    with session_factory() as db:
        seed(db)
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            for _ in range(25):
                with session_factory() as db:
                    alerts.raise_grouped(db, "REVOKED_PRESENTED", G1, "B1", {"pass_hash": LOST},
                                         subject=f"pass:{LOST}@B1")
                    db.commit()
        except BaseException as e:  # noqa: BLE001 (reported below)
            failures.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with session_factory() as db:
        assert [a.count for a in open_groups(db)] == [100]


def test_api_severity_filter_and_acknowledge_many(api, session_factory):
    with session_factory() as db:
        seed_registry(db, (G3,), "B9")
        alerts.raise_grouped(db, "TAMPER", G3, "B1", {})
        alerts.raise_grouped(db, "CLOCK_DRIFT", G3, "B1", {}, drift_s=300.0)
        alerts.raise_grouped(db, "TAMPER", G3, "B2", {}, subject="other")
        db.commit()
    op, mgr = api.as_("operator"), api.as_("manager")  # manager of B1
    crit = op.get("/api/v1/alerts?severity=critical").json()
    assert sorted(a["business_id"] for a in crit) == ["B1", "B2"] and {a["severity"] for a in crit} == {"critical"}
    assert op.get("/api/v1/alerts?severity=urgent").status_code == 400
    ids = {a["business_id"] + a["kind"]: a["id"] for a in op.get("/api/v1/alerts").json()}
    r = mgr.post("/api/v1/alerts/ack", json={"ids": [ids["B1TAMPER"], ids["B2TAMPER"]], "note": "x"})
    assert r.status_code == 403
    r = mgr.post("/api/v1/alerts/ack", json={"ids": [ids["B1TAMPER"], ids["B1CLOCK_DRIFT"]],
                                             "note": "checked on site"})
    assert r.status_code == 200 and {a["ack_note"] for a in r.json()} == {"checked on site"}
    assert mgr.post("/api/v1/alerts/ack", json={"ids": []}).status_code == 422
    r = op.post(f"/api/v1/alerts/{ids['B2TAMPER']}/ack", json={"note": "cover refitted"})
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "operator"
    assert op.post(f"/api/v1/alerts/{ids['B2TAMPER']}/ack").status_code == 409
    assert op.post("/api/v1/alerts/99999999999/ack").status_code == 404
    assert op.get("/api/v1/alerts").json() == []
