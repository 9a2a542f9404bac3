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
