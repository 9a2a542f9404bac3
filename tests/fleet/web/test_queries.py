"""The dashboard's read queries: analytics from the hourly rollup, overview
pagination and drift."""

from __future__ import annotations

import time
from dataclasses import replace

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


def test_analytics_from_the_rollup(settings, session_factory):
    """Per hour, by reason, ward and business over a range, from the rollup
    kept on ingest; equal to what the scans say."""
    import datetime as dt

    from fleet.models import Business
    from fleet.web import analytics, listing, localtime

    tz = localtime.zone(settings.timezone)
    with session_factory() as db:
        sites = seed(db, settings)
        db.get(Business, "B2").ward = "Tân Kiểng"
        now = (int(time.time()) // 3600) * 3600 + 1800   # the middle of the current hour
        h0 = now - now % 3600
        s1, s2 = sites["B1"], sites["B2"]
        scans.ingest_rows(db, rows(DEVICES["B1"], s1, 1, h0 - 7200 + 5, 3)
                          + rows(DEVICES["B1"], s1, 10, h0 - 3600 + 5, 2, verdict=False)
                          + rows(DEVICES["B2"], s2, 1, h0 - 3600 + 9, 4)
                          + rows(DEVICES["B1"], s1, 20, h0 + 5, 1)
                          + rows(DEVICES["B1"], s1, 30, h0 - 30 * 3600, 6))  # outside 24 h
        db.commit()
        f = listing.Filters(range="custom", since=h0 - 7200, until=h0 + 3600)
        an = analytics.compute(db, f, None, tz, now=now)
        assert an.series == [(h0 - 7200, 3, 0), (h0 - 3600, 4, 2), (h0, 1, 0)]
        assert (an.accepted, an.denied) == (8, 2)
        assert sorted(an.by_reason) == [(0, True, 8), (12, False, 2)]
        b1_ward = db.get(Business, "B1").ward
        assert sorted(an.by_ward) == sorted([(b1_ward, 4, 2), ("Tân Kiểng", 4, 0)])
        assert {b[0]: b[2:] for b in an.by_business} == {"B1": (4, 2), "B2": (4, 0)}
        # filters: ward, business, verdict, manager scope
        ward = replace(f, ward="Tân Kiểng")
        assert analytics.compute(db, ward, None, tz, now=now).accepted == 4
        denied = replace(f, verdict=False)
        assert analytics.compute(db, denied, None, tz, now=now).series[1] == (h0 - 3600, 0, 2)
        assert analytics.compute(db, f, "B2", tz, now=now).denied == 0
        assert analytics.last_hours(db, None, 24, now=now) == {"accepted": 8, "denied": 2}
        # a long range is drawn per local day
        start = int(dt.datetime.fromtimestamp(h0 - 3 * 86400, tz).replace(hour=0).timestamp())
        days = replace(f, since=start - 7 * 86400, until=h0 + 3600)
        long = analytics.compute(db, days, None, tz, now=now)
        assert long.bucket == 86400 and long.accepted == 14
        assert {b[0]: b[2:] for b in long.by_business} == {"B1": (10, 2), "B2": (4, 0)}
        everything = analytics.compute(db, listing.Filters(), None, tz, now=now)  # range "all"
        assert everything.start == h0 - 30 * 3600 and everything.accepted == 14
        assert all(dt.datetime.fromtimestamp(s, tz).hour == 0 for s, _, _ in long.series)


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


def test_daily_plus_edges_cover_exactly_the_range():
    """Whole days plus/minus the hours at both ends count every hour of
    [start, end) once and no other hour, whichever side each end takes."""
    from collections import Counter

    from fleet.web import analytics

    day = 86400
    base = 1_632_700_800  # a UTC midnight
    for start_h in (0, 3, 11, 12, 13, 23, 24, 30):
        for end_h in (31, 36, 47, 48, 60, 71, 24 * 9 + 5):
            start, end = base + start_h * 3600, base + end_h * 3600
            if end <= start:
                continue
            d0, d1, edges = analytics._edges(start, end)
            covered = Counter()
            for d in range(d0, d1, day):
                covered.update(range(d, d + day, 3600))
            for a, b, sign in edges:
                for h in range(a, b, 3600):
                    covered[h] += sign
            assert +covered == Counter(range(start, end, 3600)), (start_h, end_h)
            assert all(b - a <= day // 2 for a, b, _ in edges), (start_h, end_h)
