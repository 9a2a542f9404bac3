"""`alembic upgrade head` on SQLite and PostgreSQL yields the models' schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from fleet.core.db import make_engine
from fleet.migrations import upgrade
from fleet.models import Base


def test_upgrade_head_matches_models(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
            tables = set(inspect(conn).get_table_names())
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
