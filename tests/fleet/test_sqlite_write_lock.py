"""SQLite: a read-then-write service takes the write lock before it reads.

Without it, pysqlite starts the transaction at the SAVEPOINT, the service
reads a snapshot, another connection commits, and the service's first write
fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT), whatever the
busy timeout. The reproduction below makes that interleaving happen for sure."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select, text

from fleet.core.db import make_engine, make_sessionmaker, write_lock
from fleet.models import Base, Revocation
from fleet.services import revocations


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _other_writer_commits(path_db: str) -> None:
    con = sqlite3.connect(path_db, timeout=0.1)
    con.execute("INSERT INTO audit_log (at, actor, action, target_type, target_id, detail) "
                "VALUES (CURRENT_TIMESTAMP, 'x', 'x', 'x', 'x', '{}')")
    con.commit()
    con.close()


def test_snapshot_then_foreign_commit_fails_without_the_lock(sessions, tmp_path):
    """The hazard itself (so the fix below is known to matter)."""
    db = sessions()
    db.begin_nested()
    db.scalar(select(Revocation.id).limit(1))  # snapshot taken inside the savepoint
    _other_writer_commits(str(tmp_path / "lock.db"))
    with pytest.raises(Exception, match="locked"):
        db.execute(text("INSERT INTO revocation (pass_hash, version, active, reason, created_by, created_at) "
                        "VALUES ('00', 1, 1, 'LOST', 'x', CURRENT_TIMESTAMP)"))
    db.rollback()
    db.close()


def test_write_lock_is_taken_before_reading(sessions, tmp_path):
    db = sessions()
    write_lock(db, Revocation)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _other_writer_commits(str(tmp_path / "lock.db"))  # another writer must wait now
    db.begin_nested()
    db.scalar(select(Revocation.id).limit(1))
    db.commit()
    _other_writer_commits(str(tmp_path / "lock.db"))  # and can write once we committed
    db.close()


def test_revoke_takes_the_lock_first(sessions, tmp_path, monkeypatch):
    """revoke() with another connection committing right after the service's
    first read: it succeeds (the other writer is the one that waits)."""
    db = sessions()
    seen = []
    real_scalar = db.scalar

    def scalar_then_foreign_commit(*a, **kw):  # noqa: ANN002, ANN003
        out = real_scalar(*a, **kw)
        if not seen:
            seen.append(1)
            try:
                _other_writer_commits(str(tmp_path / "lock.db"))
                seen.append("committed")  # the lock was not held: the hazard is open
            except sqlite3.OperationalError:
                seen.append("waited")
        return out

    monkeypatch.setattr(db, "scalar", scalar_then_foreign_commit)
    row = revocations.revoke(db, "ab" * 16, "LOST", "test")
    db.commit()
    assert seen == [1, "waited"]
    assert row.active and row.version >= 1
    db.close()
