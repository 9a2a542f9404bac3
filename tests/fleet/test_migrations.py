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
