"""Signed firmware releases and their rollout campaigns (issue 14).

The fleet stores and distributes a release but never holds the key that
signed it (docs/protocol.md "Key roles"): `manifest` is the release
manager's signed bytes, kept as they came; the payload is a content-addressed
`Blob` the bridge serves in chunks like any other blob.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class Release(Base):
    __tablename__ = "release"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)   # manifest key 1: monotonic
    version: Mapped[str] = mapped_column(String(32))            # manifest key 2: shown to people
    target: Mapped[int] = mapped_column(SmallInteger)           # 0 file bundle, 1 firmware image
    min_previous: Mapped[int] = mapped_column(Integer)          # oldest release it may replace
    manifest: Mapped[bytes] = mapped_column(LargeBinary)        # release-key-signed, as built
    payload_sha256: Mapped[str] = mapped_column(String(64))     # hex; the Blob row's key
    size: Mapped[int] = mapped_column(Integer)
    files: Mapped[int] = mapped_column(Integer, default=0)
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # manifest key 5
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(String(64))


class Campaign(Base):
    """A staged rollout of one release. `state`: draft -> running <-> paused,
    running -> halted (automatic) -> running (resumed) | cancelled,
    running -> done; cancelled and done are final."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("release.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # {"kind": "all" | "ward" | "business" | "devices" | "percent", "value": ...}
    selector: Mapped[dict] = mapped_column(JSON)
    waves: Mapped[list] = mapped_column(JSON)                   # cumulative % e.g. [1, 10, 100]
    pause_s: Mapped[int] = mapped_column(Integer, default=3600)
    failure_threshold_pct: Mapped[float] = mapped_column(Float, default=2.0)
    max_in_flight: Mapped[int] = mapped_column(Integer, default=200)
    # a gate offered the release and silent this long no longer holds the wave back
    stall_s: Mapped[int] = mapped_column(Integer, default=6 * 3600)
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    wave: Mapped[int] = mapped_column(Integer, default=0)       # index into waves
    wave_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    wave_complete_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # {wave index (text): failures + rollbacks an operator accepted when resuming}
    accepted_failures: Mapped[dict] = mapped_column(JSON, default=dict)
    offer_sha256: Mapped[str | None] = mapped_column(String(64))  # the offer body's Blob
    halt_reason: Mapped[dict | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CampaignDevice(Base):
    """One gate of a campaign. status: pending (not offered), offered (no
    report yet), downloading, verifying, switching, probation, done,
    rolled_back, failed (+ reason, an OTA_* code)."""

    __tablename__ = "campaign_device"
    __table_args__ = (Index("ix_campaign_device_campaign_id_wave_status", "campaign_id", "wave",
                            "status"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)   # stable rank (hash of the device id)
    wave: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    reason: Mapped[int] = mapped_column(SmallInteger, default=0)
    offers: Mapped[int] = mapped_column(Integer, default=0)
    offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
