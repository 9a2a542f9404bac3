"""Who and where: businesses, sites, devices (gates), pass issuers."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow


class Sector(str, enum.Enum):
    """Priority sectors allowed to reopen first (HCMC, September 2021)."""

    TAKEAWAY_FOOD = "takeaway_food"
    SUPERMARKET = "supermarket"               # supermarkets and convenience stores
    PHARMACY_CLINIC = "pharmacy_clinic"
    MEDICAL_SUPPLY = "medical_supply"         # pharmaceutical and medical equipment chains
    FOOD_PRODUCTION = "food_production"
    PETROL_GAS = "petrol_gas"
    PUBLIC_WORKS = "public_works"
    ECOMMERCE = "ecommerce"
    BUILDING_MAINTENANCE = "building_maintenance"
    DELIVERY_LOGISTICS = "delivery_logistics"  # delivery, transport and logistics
    FINANCE = "finance"                        # finance and treasury
    TELECOMS = "telecoms"
    PRESS = "press"
    IT_SERVICES = "it_services"
    ELECTRICITY = "electricity"
    POST = "post"
    PUBLIC_UTILITIES = "public_utilities"
    SANITATION = "sanitation"
    FUNERAL = "funeral"
    NOTARY = "notary"


class Zone(str, enum.Enum):
    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


ZONE_CODE = {Zone.GREEN: 0, Zone.YELLOW: 1, Zone.ORANGE: 2, Zone.RED: 3}


class OperatingMode(str, enum.Enum):
    THREE_ON_SITE = "3_tai_cho"                 # "3 tại chỗ": work, eat, sleep on site
    ONE_ROUTE_TWO_PLACES = "1_cung_duong_2_diem_den"  # "1 cung đường 2 điểm đến"


class BusinessStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"   # after an F0 case: its gates show SUSPENDED
    REJECTED = "rejected"


class Business(Base):
    __tablename__ = "business"

    # Short code, also carried in worker passes (claim gg/8, text 1..16).
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(300))
    ward: Mapped[str] = mapped_column(String(100))
    zone: Mapped[str] = mapped_column(String(8), default=Zone.GREEN.value)
    status: Mapped[str] = mapped_column(String(16), default=BusinessStatus.PENDING.value, index=True)
    operating_mode: Mapped[str] = mapped_column(String(32))
    two_doses: Mapped[bool] = mapped_column(Boolean, default=False)
    five_k: Mapped[bool] = mapped_column(Boolean, default=False)
    plan_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    testing_interval_days: Mapped[int | None] = mapped_column(Integer)
    suspended_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    sites: Mapped[list["Site"]] = relationship(back_populates="business")


class Site(Base):
    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("business.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))       # Vietnamese
    name_en: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    # Rule list of the signed site configuration (docs/protocol.md section 8):
    # [[type, {param: value}], ...]; JSON keeps param keys as digit strings.
    rules: Mapped[list] = mapped_column(JSON, default=list)
    # Counts configuration changes (shown to operators); the signed message
    # version is the control outbox id.
    config_version: Mapped[int] = mapped_column(Integer, default=0)
    # Pass formats the site's gates accept (config key 9): 1 GG1, 2 EU DCC;
    # None = GG1 only (key 9 left out, as before issue 13).
    formats: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    business: Mapped[Business] = relationship(back_populates="sites")
    devices: Mapped[list["Device"]] = relationship(back_populates="site")


class Device(Base):
    __tablename__ = "device"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"), index=True)
    public_key: Mapped[str] = mapped_column(String(64))  # raw Ed25519 key, hex
    mqtt_username: Mapped[str] = mapped_column(String(64), unique=True)
    # mosquitto_passwd "$7$" PBKDF2-SHA512 line part: the bridge never sees the password.
    mqtt_password_hash: Mapped[str] = mapped_column(String(255))
    firmware: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Applied signed-message versions the device reports (state key 3).
    config_version: Mapped[int | None] = mapped_column(Integer)
    revocation_version: Mapped[int | None] = mapped_column(Integer)
    trust_version: Mapped[int | None] = mapped_column(Integer)
    # DCC signer table the device applied (state key 16): list version, key count.
    dcc_version: Mapped[int | None] = mapped_column(Integer)
    dcc_keys: Mapped[int | None] = mapped_column(Integer)
    dropped: Mapped[int | None] = mapped_column(Integer)
    last_control_error: Mapped[list | None] = mapped_column(JSON)
    outbox_depth: Mapped[int | None] = mapped_column(Integer)
    clock_drift_s: Mapped[float | None] = mapped_column(Float)
    tamper: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_by: Mapped[str | None] = mapped_column(String(64))

    site: Mapped[Site | None] = relationship(back_populates="devices")


class Issuer(Base):
    """A pass issuer whose public key goes into the signed trust list."""

    __tablename__ = "issuer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iss: Mapped[str] = mapped_column(String(32), index=True)
    kid: Mapped[str] = mapped_column(String(16), index=True)   # hex of SHA-256(pub)[:8]
    public_key: Mapped[str] = mapped_column(String(64), unique=True)  # hex
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
