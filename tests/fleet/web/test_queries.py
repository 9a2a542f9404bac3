"""The dashboard's read queries: hourly counters (cached completed hours,
fresh current hour), per-business series, overview pagination and drift."""

from __future__ import annotations

import time

from web_helpers import DEVICES, seed

from sqlalchemy import func, select

from fleet.broker_bridge import topics
from fleet.models import ControlOutbox, Device
from fleet.models.base import utcnow
from fleet.services import devices, registry, scans
from fleet.web import queries
from fleet_helpers import pubhex


def rows(device, site, start_seq, received, n, verdict=True):
    return [{"device_id": device, "seq": start_seq + i, "site_id": site, "time": received,
             "time_valid": True, "pass_hash": f"{start_seq + i:032x}", "verdict": verdict,
             "reason": 0 if verdict else 12, "received_at": received} for i in range(n)]


def test_hourly_counts(settings, session_factory):
    with session_factory() as db:
        sites = seed(db, settings)
        now = (int(time.time()) // 3600) * 3600 + 1800   # the middle of the current hour
        h0 = now - now % 3600
        s1, s2 = sites["B1"], sites["B2"]
        scans.ingest_rows(db, rows(DEVICES["B1"], s1, 1, h0 - 7200 + 5, 3)
                          + rows(DEVICES["B1"], s1, 10, h0 - 3600 + 5, 2, verdict=False)
                          + rows(DEVICES["B2"], s2, 1, h0 - 3600 + 9, 4)
                          + rows(DEVICES["B1"], s1, 20, h0 + 5, 1))
        db.commit()
        counter = queries.HourlyCounts(fresh_s=0)
        got = counter.hours(db, 3, now=now)
        assert [start for start, _ in got] == [h0 - 7200, h0 - 3600, h0]
        assert got[0][1] == {s1: (3, 0)}
        assert got[1][1] == {s1: (0, 2), s2: (4, 0)}
        assert got[2][1] == {s1: (1, 0)}
        # Completed hours are counted once; the current hour is counted again.
        scans.ingest_rows(db, rows(DEVICES["B2"], s2, 50, h0 - 7200 + 30, 5)
                          + rows(DEVICES["B2"], s2, 60, h0 + 30, 2))
        db.commit()
        again = counter.hours(db, 3, now=now)
        assert again[0][1] == {s1: (3, 0)}
        assert again[2][1] == {s1: (1, 0), s2: (2, 0)}
        assert queries.HourlyCounts().hours(db, 3, now=now)[0][1] == {s1: (3, 0), s2: (5, 0)}


def test_business_series(settings, session_factory):
    with session_factory() as db:
        sites = seed(db, settings)
        now = (int(time.time()) // 86400) * 86400 + 43200
        scans.ingest_rows(db, rows(DEVICES["B1"], sites["B1"], 1, now - 86400 - 60, 2)
                          + rows(DEVICES["B1"], sites["B1"], 10, now - 100, 3, verdict=False)
                          + rows(DEVICES["B2"], sites["B2"], 1, now - 100, 7))
        db.commit()
        series = queries.business_series(db, "B1", 24 * 7, 86400, now=now)
        assert len(series) == 7
        assert series[-1][1:] == (0, 3) and series[-2][1:] == (2, 0)
        assert sum(a + d for _, a, d in series) == 5
        hourly = queries.business_series(db, "B1", 24, 3600, now=now)
        assert len(hourly) == 24 and sum(d for _, _, d in hourly) == 3


def test_overview_pages_and_drift(settings, session_factory):
    with session_factory() as db:
        sites = seed(db, settings)
        for i in range(118):
            registry.register_device(db, f"gg-{i:012x}", pubhex(), sites["B2"], "1.0.0", "test")
        # gg-...03 applied an older configuration than the one published to it;
        # gg-...04 applied the newest: only the first drifts
        for dev in ("gg-000000000003", "gg-000000000004"):
            db.add(ControlOutbox(kind="config", topic=topics.config(dev), retain=True, body={},
                                 published_at=utcnow()))
        db.flush()
        newest = db.scalar(select(func.max(ControlOutbox.id)))
        devices.apply_state(db, "gg-000000000003", {"online": True, "config_version": newest - 2})
        devices.apply_state(db, "gg-000000000004", {"online": False, "config_version": newest})
        db.commit()
        first = queries.fleet_overview(db, settings, scope=None, business=None, q=None, state=None,
                                       drift_only=False, page=1)
        assert first["total"] == 120 and first["pages"] == 3 and len(first["rows"]) == 50
        last = queries.fleet_overview(db, settings, scope=None, business=None, q=None, state=None,
                                      drift_only=False, page=3)
        assert len(last["rows"]) == 20
        ids = [r.device.id for r in first["rows"]] + [r.device.id for r in last["rows"]]
        assert ids == sorted(ids)
        mine = queries.fleet_overview(db, settings, scope="B1", business=None, q=None, state=None,
                                      drift_only=False, page=1)
        assert [r.device.id for r in mine["rows"]] == [DEVICES["B1"]]
        drift = queries.fleet_overview(db, settings, scope=None, business=None, q=None, state=None,
                                       drift_only=True, page=1)
        assert [r.device.id for r in drift["rows"]] == ["gg-000000000003"]
        assert drift["rows"][0].config_drift
        summary = queries.fleet_summary(db, None)
        assert summary == {**summary, "total": 120, "online": 1, "offline": 119, "drift": 1}
        assert queries.fleet_summary(db, "B1")["total"] == 1
        db.get(Device, "gg-000000000003").status = "retired"
        db.commit()
        assert queries.fleet_summary(db, None)["total"] == 119
