"""Alembic environment: target metadata = fleet.models.Base.metadata."""

from __future__ import annotations

from alembic import context

from fleet.core.config import normalise_db_url
from fleet.core.db import make_engine
from fleet.models import Base
from fleet.models.rollup import include_object

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True)
    return normalise_db_url(x.get("url") or config.get_main_option("sqlalchemy.url"))


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as conn:
        # batch mode: SQLite cannot ALTER most things in place.
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=True, compare_type=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
