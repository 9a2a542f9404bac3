"""`alembic upgrade head` on SQLite and PostgreSQL yields the models' schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from fleet.core.db import make_engine
from fleet.migrations import upgrade
from fleet.models import Base
from fleet.models.rollup import EXPRESSION_INDEXES, include_object


def test_upgrade_head_matches_models(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": include_object})
            diff = compare_metadata(ctx, Base.metadata)
            tables = set(inspect(conn).get_table_names())
            # the expression indexes alembic cannot compare: on the event-time CASE
            if conn.dialect.name == "postgresql":
                defs = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes "
                                              "WHERE tablename = 'scan'")).all())
            else:
                defs = dict(conn.execute(text("SELECT name, sql FROM sqlite_master "
                                              "WHERE tbl_name = 'scan' AND type = 'index'")).all())
        for name in EXPRESSION_INDEXES:
            assert "CASE" in defs[name] and "time_valid" in defs[name] and "received_at" in defs[name]
        assert diff == []
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        # idempotent: a second upgrade is a no-op
        upgrade(db_url)
    finally:
        engine.dispose()


def test_0005_down_and_up_keeps_alerts(db_url):
    """0005 (throttle per user and address, grouped alerts) downgrades to 0003
    and upgrades again; existing alerts get count 1."""
    from alembic import command
    from sqlalchemy import text

    from fleet.migrations import alembic_config

    upgrade(db_url, "0003")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO alert (kind, device_id, detail, created_at) "
                              "VALUES ('TAMPER', 'gg-000000000001', '{}', CURRENT_TIMESTAMP)"))
        upgrade(db_url, "0005")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count, last_seen_at FROM alert")).all() == [(1, None)]
            cols = {c["name"] for c in inspect(conn).get_columns("login_throttle")}
        assert cols == {"key", "failures", "last_failure_at", "blocked_until"}
        command.downgrade(alembic_config(db_url), "0003")
        with engine.connect() as conn:
            cols = {c["name"] for c in inspect(conn).get_columns("login_throttle")}
            assert "count" not in {c["name"] for c in inspect(conn).get_columns("alert")}
        assert cols == {"key", "failures", "window_start", "locked_until"}
    finally:
        engine.dispose()


def test_0007_site_coordinates_down_and_up(db_url):
    """0007 adds site.lat / site.lon (range and pair CHECKs); existing sites get
    none; a downgrade to 0005 drops them again."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from fleet.migrations import alembic_config

    upgrade(db_url, "0005")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO business (id, name, sector, address, ward, zone, status, "
                              "operating_mode, two_doses, five_k, plan_approved, created_at, updated_at) "
                              "VALUES ('B1', 'x', 'supermarket', 'a', 'w', 'green', 'approved', "
                              "'3_tai_cho', false, false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO site (business_id, name, address, rules, config_version, "
                              "created_at) VALUES ('B1', 's', '', '[]', 0, CURRENT_TIMESTAMP)"))
        command.upgrade(alembic_config(db_url), "0007")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT lat, lon FROM site")).all() == [(None, None)]
        for lat, lon in ((91.0, 106.7), (10.7, -181.0), (10.7, None)):
            try:
                with engine.begin() as conn:
                    conn.execute(text("UPDATE site SET lat = :a, lon = :o"), {"a": lat, "o": lon})
            except IntegrityError:
                pass
            else:
                raise AssertionError(f"({lat}, {lon}) accepted")
        with engine.begin() as conn:
            conn.execute(text("UPDATE site SET lat = 10.73, lon = 106.72"))
        command.downgrade(alembic_config(db_url), "0005")
        with engine.connect() as conn:
            assert "lat" not in {c["name"] for c in inspect(conn).get_columns("site")}
            assert conn.execute(text("SELECT count(*) FROM site")).scalar() == 1
    finally:
        engine.dispose()


def test_0008_fills_the_rollup_from_stored_scans(db_url):
    """0008 creates scan_hourly and counts the scans already stored (event
    time: the gate's clock when trusted, else the receive time); down and up
    again gives the same counters."""
    from alembic import command
    from sqlalchemy import text

    from fleet.migrations import alembic_config

    upgrade(db_url, "0005")
    engine = make_engine(db_url)
    rows = [  # device, seq, site, time, time_valid, verdict, reason, received_at
        ("gg-a", 1, 1, 7200 + 5, True, True, 0, 99999),
        ("gg-a", 2, 1, 7200 + 3599, True, True, 0, 99999),
        ("gg-a", 3, 1, 7200 + 10, True, False, 12, 99999),
        ("gg-b", 1, None, 5, False, False, 8, 3600 * 5 + 1),  # untrusted clock: receive hour
    ]
    try:
        with engine.begin() as conn:
            for r in rows:
                conn.execute(text(
                    "INSERT INTO scan (device_id, seq, site_id, time, time_valid, verdict, reason, "
                    "received_at) VALUES (:d, :s, :site, :t, :v, :ok, :r, :rec)"),
                    dict(zip(("d", "s", "site", "t", "v", "ok", "r", "rec"), r)))
        upgrade(db_url, "0008")
        q = text("SELECT hour, site_id, verdict, reason, count FROM scan_hourly "
                 "ORDER BY hour, site_id, verdict, reason")
        with engine.connect() as conn:
            got = [tuple(r) for r in conn.execute(q)]
        assert got == [(7200, 1, False, 12, 1), (7200, 1, True, 0, 2), (18000, -1, False, 8, 1)]
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(text(
                "SELECT hour, verdict, reason, count FROM scan_hourly_district ORDER BY hour, verdict"))] \
                == [(7200, False, 12, 1), (7200, True, 0, 2), (18000, False, 8, 1)]
            assert [tuple(r) for r in conn.execute(text(
                "SELECT day, site_id, verdict, count FROM scan_daily_site ORDER BY site_id, verdict"))] \
                == [(0, -1, False, 1), (0, 1, False, 1), (0, 1, True, 2)]
            assert [tuple(r) for r in conn.execute(text(
                "SELECT day, site_id, verdict, reason, count FROM scan_daily_site_reason "
                "ORDER BY site_id, verdict"))] == [(0, -1, False, 8, 1), (0, 1, False, 12, 1), (0, 1, True, 0, 2)]
        command.downgrade(alembic_config(db_url), "0005")
        with engine.connect() as conn:
            assert "scan_hourly" not in inspect(conn).get_table_names()
        upgrade(db_url, "0008")
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(q)] == got
    finally:
        engine.dispose()


def test_0009_down_and_up_keeps_alerts(db_url):
    """0009 (alert groups) from 0005: old alerts get their kind's severity,
    a last-seen time and no group key (so many old open alerts of one
    device do not collide in the open-group index); it downgrades again."""
    from alembic import command
    from sqlalchemy import text

    from fleet.migrations import alembic_config

    upgrade(db_url, "0005")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for kind, detail in (("TAMPER", "{}"), ("REVOKED_PRESENTED", '{"pass_hash": "%s", "seq": 4}' % ("ab" * 16)),
                                 ("REVOKED_PRESENTED", '{"pass_hash": 7}'), ("CLOCK_DRIFT", "{}"),
                                 ("DEVICE_OFFLINE", "{}")):
                conn.execute(text("INSERT INTO alert (kind, device_id, detail, created_at) "
                                  "VALUES (:k, 'gg-000000000001', :d, CURRENT_TIMESTAMP)"),
                             {"k": kind, "d": detail})
        upgrade(db_url, "0009")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, severity, group_key, last_seen_at = created_at, "
                                     "notify_state, notify_attempts, pass_hash FROM alert ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            ("TAMPER", "critical", None, True, None, 0, None),
            ("REVOKED_PRESENTED", "critical", None, True, None, 0, "ab" * 16),  # searchable now
            ("REVOKED_PRESENTED", "critical", None, True, None, 0, None),  # a bad detail stays out
            ("CLOCK_DRIFT", "info", None, True, None, 0, None),
            ("DEVICE_OFFLINE", "warning", None, True, None, 0, None)]
        command.downgrade(alembic_config(db_url), "0005")
        with engine.connect() as conn:
            cols = {c["name"] for c in inspect(conn).get_columns("alert")}
        assert "severity" not in cols and "group_key" not in cols and "count" in cols
    finally:
        engine.dispose()
