"""What happened: scans (exactly once per device+seq), alerts, audit log, F0
cases, users and their sessions, and the control-message outbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary,
                        SmallInteger, String, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for 10M+ rows.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Scan(Base):
    __tablename__ = "scan"
    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index("ix_scan_pass_hash_time", "pass_hash", "time"),
        Index("ix_scan_site_id_time", "site_id", "time"),
        Index("ix_scan_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    site_id: Mapped[int | None] = mapped_column(Integer)
    time: Mapped[int] = mapped_column(BigInteger)          # device clock, unix seconds
    time_valid: Mapped[bool] = mapped_column(Boolean)      # device clock was trusted
    pass_hash: Mapped[str | None] = mapped_column(String(32))  # None when the QR did not decode
    verdict: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[int] = mapped_column(BigInteger)   # fleet clock, unix seconds


class Alert(Base):
    """One alert group (fleet/services/alerts.py): every occurrence of the same
    kind for the same subject (a device, or a pass at a business) while the
    group is open adds to `count`; acknowledging closes it, and the next
    occurrence opens a new group. The partial unique index keeps one open
    group per key even with several bridge workers (an atomic upsert)."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("uq_alert_open_group", "group_key", unique=True,
              sqlite_where=text("acknowledged_at IS NULL"),
              postgresql_where=text("acknowledged_at IS NULL")),
        Index("ix_alert_last_seen_at_id", "last_seen_at", "id"),
        # open groups (the alerts page's default), newest first, and counted
        # per severity, each from a small index of the open rows alone
        Index("ix_alert_open_last_seen_at_id", "last_seen_at", "id",
              sqlite_where=text("acknowledged_at IS NULL"),
              postgresql_where=text("acknowledged_at IS NULL")),
        Index("ix_alert_open_severity", "severity",
              sqlite_where=text("acknowledged_at IS NULL"),
              postgresql_where=text("acknowledged_at IS NULL")),
        # a severity over a time range, acknowledged or all
        Index("ix_alert_severity_last_seen_at", "severity", "last_seen_at"),
        Index("ix_alert_notify_pending", "notify_next_at",
              sqlite_where=text("notify_state = 'pending'"),
              postgresql_where=text("notify_state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # REVOKED_PRESENTED / DEVICE_OFFLINE / CONFIG_DRIFT / REVOCATION_DRIFT /
    # CLOCK_DRIFT / OUTBOX_BACKLOG / TAMPER / GATE_ERROR / CONTROL_REJECTED
    kind: Mapped[str] = mapped_column(String(32), index=True)
    # critical / warning / info: alerts.SEVERITY[kind] when raised
    severity: Mapped[str] = mapped_column(String(8), default="warning", server_default="warning")
    # "<kind>|<subject>|<group fields>": None on alerts raised before grouping (0009)
    group_key: Mapped[str | None] = mapped_column(String(200))
    # REVOKED_PRESENTED: the pass (searched by prefix with an index range)
    pass_hash: Mapped[str | None] = mapped_column(String(32), index=True)
    device_id: Mapped[str | None] = mapped_column(String(32), index=True)
    business_id: Mapped[str | None] = mapped_column(String(16), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # grouped alerts (alerts.raise_grouped): reports folded into this open one
    count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ack_note: Mapped[str | None] = mapped_column(String(300))
    # webhook of new critical groups (fleet/services/notify.py): None = not
    # to be sent; pending / sent / failed / expired
    notify_state: Mapped[str | None] = mapped_column(String(8))
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notify_next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at_id", "at", "id"),)  # the audit list, newest first

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class F0Case(Base):
    __tablename__ = "f0_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pass_hash: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open / closed
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    window_days: Mapped[int] = mapped_column(Integer)
    window_hours: Mapped[float] = mapped_column()
    # [{"site_id", "business_id", "accepted_at", "passes": [hash...]}]
    exposure: Mapped[list] = mapped_column(JSON, default=list)
    suspended_businesses: Mapped[list] = mapped_column(JSON, default=list)


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin / operator / manager / viewer
    business_id: Mapped[str | None] = mapped_column(ForeignKey("business.id"))
    language: Mapped[str] = mapped_column(String(2), default="vi")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSession(Base):
    """Login sessions and technicians' short-lived provisioning tokens."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="session")  # session / technician
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginThrottle(Base):
    """Failed log-ins per (username, client address) and per client address
    (fleet/services/throttle.py): shared by every worker, so a guesser cannot
    spread attempts over processes."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)  # "pair:<addr> <name>" / "ip:<addr>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the next attempt for this key is refused before this time
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ControlOutbox(Base):
    """Transactional outbox: the API records control messages in the same
    transaction as the change that caused them; the broker bridge signs and
    publishes them and marks them published. Nothing is lost if MQTT is down.
    The row id is the signed message's version (monotonic for every kind and
    every device, as docs/protocol.md requires)."""

    __tablename__ = "control_outbox"
    __table_args__ = (Index("ix_control_outbox_topic_id", "topic", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # config / trust / revocation / command
    topic: Mapped[str] = mapped_column(String(128))
    retain: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[dict] = mapped_column(JSON)
    signed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


class Blob(Base):
    """Content-addressed files devices fetch in chunks (revocation snapshot and
    delta, allowlists): any bridge worker can answer a fetch."""

    __tablename__ = "blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex
    kind: Mapped[str] = mapped_column(String(16))  # snapshot / delta / allowlist
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RevocationSnapshot(Base):
    """A cut of the revocation list: GGRV file (blob) holding every revocation
    with version <= list_version; later ones travel in the cumulative delta."""

    __tablename__ = "revocation_snapshot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_version: Mapped[int] = mapped_column(Integer)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blob.sha256"))
    entries: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommandReply(Base):
    """Command replies (docs/protocol.md 4.3); chunked data (screenshots) is one
    row per chunk, reassembled and checked against its SHA-256 when read."""

    __tablename__ = "command_reply"
    __table_args__ = (Index("ix_command_reply_device_id_command_id", "device_id", "command_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32))
    command_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(SmallInteger)   # reason code, 0 = OK
    detail: Mapped[str] = mapped_column(String(64), default="")
    chunk_index: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
