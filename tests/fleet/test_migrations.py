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
