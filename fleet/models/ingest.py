"""Ingest bookkeeping: device messages the bridge set aside (dead letters)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class DeadLetter(Base):
    """A device message the fleet could not store (schema refused it, or the
    database did): kept for operators instead of stopping the stream. One row
    per (device, payload): a gate resending the same message bumps `count`."""

    __tablename__ = "dead_letter"
    __table_args__ = (UniqueConstraint("device_id", "payload_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), index=True)
    topic: Mapped[str] = mapped_column(String(128))
    payload_sha256: Mapped[str] = mapped_column(String(64))       # hex, of the whole payload
    payload: Mapped[bytes] = mapped_column(LargeBinary)           # first PAYLOAD_CAP bytes
    payload_size: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32))                 # BAD_SCAN / DB_REFUSED / ...
    error: Mapped[str] = mapped_column(String(300))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)
