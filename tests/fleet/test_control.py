"""Control outbox rules: 12-hour re-signing, snapshot cutting, drift versions."""

import datetime as dt
import hashlib

from sqlalchemy import select

from fleet.broker_bridge import topics
from fleet.models import ControlOutbox, RevocationSnapshot, utcnow
from fleet.services import control, registry, revocations
from fleet_helpers import dev_id, pubhex, seed_registry


def test_refresh_resigns_only_what_is_older_than_12_hours(session_factory):
    with session_factory() as db:
        seed_registry(db, (dev_id(1), dev_id(2)))
        registry.add_issuer(db, "HCM-Q7", pubhex(), "test")
        first = control.enqueue_refresh(db)  # no revocation list yet: one is made
        assert [r.kind for r in first] == ["revocation"]
        db.commit()
        assert control.enqueue_refresh(db, utcnow() + dt.timedelta(hours=1)) == []
        later = control.enqueue_refresh(db, utcnow() + dt.timedelta(hours=13))
        assert sorted((r.kind, r.topic) for r in later) == sorted([
            ("trust", topics.TRUST), ("revocation", topics.REVOCATION),
            ("config", topics.config(dev_id(1))), ("config", topics.config(dev_id(2)))])
        # every re-signed message is a new, higher version
        assert min(r.id for r in later) > max(r.id for r in first)


def test_snapshot_is_cut_when_the_delta_grows(session_factory, monkeypatch):
    monkeypatch.setattr(control, "DELTA_MAX", 3)
    with session_factory() as db:
        for i in range(8):  # random-looking hashes: a snapshot stores their top bits
            revocations.revoke(db, hashlib.sha256(bytes([i])).hexdigest()[:32], "LOST", "test")
        snaps = [(s.list_version, s.entries) for s in db.scalars(select(RevocationSnapshot))]
        assert snaps == [(1, 1), (5, 5)]  # first ever, then when the delta passed 3
        last = control.latest_row(db, topics.REVOCATION)
        assert last.body["base"] == 5 and last.body["list_version"] == 8


def test_desired_versions_count_only_published_messages(session_factory):
    with session_factory() as db:
        seed_registry(db, (dev_id(1),))
        rows = db.query(ControlOutbox).all()
        assert control.desired_config_versions(db) == {}
        rows[0].published_at = utcnow()
        db.flush()
        assert control.desired_config_versions(db) == {dev_id(1): rows[0].id}
        assert control.desired_version(db, topics.config(dev_id(1))) == rows[0].id
