"""Alembic migrations for the fleet database (SQLite and PostgreSQL).

`upgrade(url)` is what `greengate fleet serve` and the tests call; operators can
also run `alembic -c fleet/alembic.ini -x url=postgresql://... upgrade head`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from fleet.core.config import normalise_db_url

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # ConfigParser interpolation: a '%' in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", normalise_db_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
