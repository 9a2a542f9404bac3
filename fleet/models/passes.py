"""Passes (metadata only, never full names), allowlists and revocations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, SmallInteger, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class Pass(Base):
    __tablename__ = "pass"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pass_hash: Mapped[str] = mapped_column(String(32), unique=True)  # hex SHA-256(sig)[:16]
    cti: Mapped[str] = mapped_column(String(32), unique=True)        # hex pass id
    iss: Mapped[str] = mapped_column(String(32))
    role: Mapped[int] = mapped_column(SmallInteger)
    initials: Mapped[str] = mapped_column(String(6))
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    business_id: Mapped[str | None] = mapped_column(ForeignKey("business.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active / revoked / f0
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[str | None] = mapped_column(String(64))


class AllowlistEntry(Base):
    """A worker on a business's allowlist: drafted by the business manager,
    approved (or rejected) by the district."""

    __tablename__ = "allowlist_entry"
    __table_args__ = (UniqueConstraint("business_id", "pass_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("business.id"), index=True)
    pass_hash: Mapped[str] = mapped_column(String(32))
    cti: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft/approved/rejected/removed
    drafted_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Revocation(Base):
    """One pass on (or lifted from) the revocation list. `version` is the list
    version of the row's last change (strictly increasing over all rows): a
    delta from version a to b is every row a < v <= b, added if `active`,
    removed if lifted. Re-revoking a lifted pass re-activates its row."""

    __tablename__ = "revocation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pass_hash: Mapped[str] = mapped_column(String(32), unique=True)
    reason: Mapped[str] = mapped_column(String(16))  # F0 / LOST / FRAUD / EXPIRED_STATUS / OTHER
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    lift_reason: Mapped[str | None] = mapped_column(String(16))  # ERROR / RECOVERED / FOUND / OTHER
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lift_note: Mapped[str | None] = mapped_column(String(300))  # why, in the operator's words
