"""SQLAlchemy 2 engine and sessions: SQLite (WAL, foreign keys) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, false, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            # WAL: readers (dashboard) never block the ingest writer.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def write_lock(db: Session, table) -> None:  # noqa: ANN001
    """On SQLite, take the database write lock now, before this transaction
    reads. Its driver starts a transaction at the first write (or at a
    SAVEPOINT), so a read-then-write service would read a snapshot and then
    fail at once with "database is locked" (SQLITE_BUSY_SNAPSHOT: no busy
    timeout helps) when another connection committed in between. An UPDATE
    that matches no row still takes the lock (and waits for it with the busy
    timeout). PostgreSQL needs nothing here (row locks and constraints)."""
    if is_sqlite(db.get_bind()):
        col = next(iter(table.__table__.primary_key.columns))
        db.execute(update(table).where(false()).values({col.name: col})
                   .execution_options(synchronize_session=False))
