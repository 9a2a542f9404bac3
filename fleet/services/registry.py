"""Businesses, sites, devices and pass issuers."""

from __future__ import annotations

import hashlib
import re
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.broker_bridge.mosquitto_conf import password_hash
from fleet.core import errors
from fleet.models import Business, BusinessStatus, Device, Issuer, Site

from . import audit, control

DEVICE_ID = re.compile(r"^gg-[0-9a-f]{12}$")  # docs/protocol.md: "gg-" + ESP32 base MAC


def get_business(db: Session, business_id: str) -> Business:
    b = db.get(Business, business_id)
    if b is None:
        raise errors.NotFound(f"business {business_id} not found / không tìm thấy doanh nghiệp")
    return b


def get_site(db: Session, site_id: int) -> Site:
    s = db.get(Site, site_id)
    if s is None:
        raise errors.NotFound(f"site {site_id} not found / không tìm thấy địa điểm")
    return s


def get_device(db: Session, device_id: str) -> Device:
    d = db.get(Device, device_id)
    if d is None:
        raise errors.NotFound(f"device {device_id} not found / không tìm thấy thiết bị")
    return d


def set_business_status(db: Session, business: Business, status: BusinessStatus, actor: str,
                        reason: str | None = None) -> Business:
    old = business.status
    business.status = status.value
    business.suspended_reason = reason if status == BusinessStatus.SUSPENDED else None
    audit.record(db, actor, f"business.{status.value}", "business", business.id,
                 old=old, reason=reason)
    # Its gates learn the new status from the signed, retained site configuration.
    control.enqueue_business_configs(db, business.id)
    return business


def update_device(db: Session, device: Device, changes: dict, actor: str) -> Device:
    """Apply a PATCH (site_id, label, status...). Moving or re-activating a
    gate queues its site's configuration; retiring it clears its retained
    messages on the broker (configuration and state; its MQTT account also
    drops out)."""
    if changes.get("site_id") is not None:
        get_site(db, changes["site_id"])
    moved = "site_id" in changes and changes["site_id"] != device.site_id
    was = device.status
    for k, v in changes.items():
        setattr(device, k, v)
    audit.record(db, actor, "device.update", "device", device.id, **changes)
    if device.status == "retired" and was != "retired":
        control.enqueue_clear_retained(db, device)
    elif device.status == "active" and (moved or was != "active"):
        control.enqueue_device_config(db, device)
    return device


def decode_public_key(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise errors.BadRequest("public_key must be 64 hex digits of an Ed25519 key",
                                code="BAD_PUBLIC_KEY") from None
    return raw


def register_device(db: Session, device_id: str, public_key_hex: str, site_id: int | None,
                    firmware: str | None, actor: str) -> tuple[Device, str]:
    """Register a gate (its own key pair: the private key never leaves it) and
    issue its MQTT credentials (username = device id). Returns (device,
    mqtt_password): the password goes to the device once, inside the signed
    provisioning bundle; only its mosquitto hash is stored. Queues the site's
    configuration for the gate."""
    if not DEVICE_ID.match(device_id):
        raise errors.BadRequest("device_id must be gg- and 12 lowercase hex digits", code="BAD_DEVICE_ID")
    raw = decode_public_key(public_key_hex)
    if site_id is not None:
        get_site(db, site_id)
    existing = db.get(Device, device_id)
    if existing is not None and existing.public_key != raw.hex():
        raise errors.Conflict(f"device {device_id} is registered with another key",
                              code="DEVICE_EXISTS")
    password = secrets.token_urlsafe(24)
    device = existing or Device(id=device_id, public_key=raw.hex(), mqtt_username=device_id,
                                mqtt_password_hash="")
    device.mqtt_password_hash = password_hash(password)
    device.site_id = site_id if site_id is not None else device.site_id
    device.firmware = firmware or device.firmware
    device.registered_by = actor
    device.status = "active"
    db.add(device)
    db.flush()
    audit.record(db, actor, "device.register" if existing is None else "device.reregister",
                 "device", device_id, site_id=device.site_id,
                 key_sha256=hashlib.sha256(raw).hexdigest()[:16])
    control.enqueue_device_config(db, device)
    return device, password


def add_issuer(db: Session, iss: str, public_key_hex: str, actor: str, note: str = "") -> Issuer:
    raw = decode_public_key(public_key_hex)
    if not 1 <= len(iss) <= 32:
        raise errors.BadRequest("iss must be 1..32 characters", code="BAD_ISSUER")
    if db.scalar(select(Issuer).where(Issuer.public_key == raw.hex())) is not None:
        raise errors.Conflict("issuer key already trusted", code="ISSUER_EXISTS")
    issuer = Issuer(iss=iss, kid=hashlib.sha256(raw).digest()[:8].hex(), public_key=raw.hex(),
                    note=note)
    db.add(issuer)
    db.flush()
    audit.record(db, actor, "issuer.add", "issuer", issuer.id, iss=iss, kid=issuer.kid)
    control.enqueue_trust_list(db)
    return issuer
