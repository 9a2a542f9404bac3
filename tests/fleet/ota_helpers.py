"""Helpers of the OTA campaign tests: a signed test release (a small bundle,
no mpy-cross), gates inserted straight into the registry, state key 15
reports through the bridge's own parsing path."""

from __future__ import annotations

import hashlib

import cbor2
from sqlalchemy import select
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.broker_bridge import schema
from fleet.models import Business, Device, Site
from fleet.services import devices as device_svc
from fleet.services import releases
from greengate.control.envelope import raw_public
from greengate.ota import release as ota_release

RELEASE_KEY = Ed25519PrivateKey.generate()
RELEASE_PUB = raw_public(RELEASE_KEY)
FLEET_KEY = Ed25519PrivateKey.generate()
FLEET_PUB = raw_public(FLEET_KEY)


def dev_id(n: int) -> str:
    return f"gg-{n:012x}"


def build(number: int = 7, key: Ed25519PrivateKey = RELEASE_KEY, size: int = 5000,
          version: str | None = None) -> ota_release.Release:
    """A file bundle of two files (main.mpy + data), `size` bytes of payload."""
    body = hashlib.sha256(b"fw%d" % number).digest() * (size // 32 + 1)
    files = [("main.mpy", body[:size // 2]), ("display/texts.bin", body[size // 2:size])]
    return ota_release.build_release(None, number, version or f"0.{number}.0", 1, ota_release.TARGET_BUNDLE,
                                     key, files=files)


def publish(db, number: int = 7, **kw):  # noqa: ANN001, ANN201
    row = releases.publish(db, build(number, **kw), [RELEASE_PUB], FLEET_PUB, "test")
    db.flush()
    return row


def seed_gates(db, n: int, ward: str = "Tân Phong", business: str = "B1", first: int = 0) -> list[str]:  # noqa: ANN001
    if db.get(Business, business) is None:
        db.add(Business(id=business, name="Cửa hàng", sector="supermarket", address="1 A", ward=ward,
                        operating_mode="3_tai_cho", status="approved"))
    site = Site(business_id=business, name="Cổng", rules=[])
    db.add(site)
    db.flush()
    ids = [dev_id(first + i) for i in range(n)]
    db.execute(Device.__table__.insert(), [
        {"id": d, "site_id": site.id, "public_key": "00" * 32, "mqtt_username": d,
         "mqtt_password_hash": "x", "status": "active", "online": True, "tamper": False}
        for d in ids])
    db.flush()
    return ids


def state_payload(release: int, phase: int, percent: int = 0, reason: int = 0,
                  campaign: int = 0) -> bytes:
    return cbor2.dumps({1: True, 2: "0.1.0", 15: [release, phase, percent, reason, campaign]})


def report(db, device: str, release: int, phase: int, percent: int = 0, reason: int = 0,  # noqa: ANN001
           campaign: int = 0) -> None:
    """What the bridge does with a gate's state message."""
    device_svc.apply_state(db, device, schema.state(state_payload(release, phase, percent, reason,
                                                                  campaign)))


def started_campaign(db, n: int, name: str, **kw):  # noqa: ANN001, ANN201
    """n gates of business B9, release 7 published, a campaign over them
    (waves 10 %, 100 %) started: (campaign, sorted ids of the offered gates)."""
    from fleet.models import CampaignDevice
    from fleet.services import ota

    seed_gates(db, n, business="B9")
    publish(db, 7)
    c = ota.create(db, 7, {"kind": "business", "value": "B9"}, [10, 100], "admin", name=name, **kw)
    ota.start(db, c.id, "admin")
    offered = sorted(db.scalars(select(CampaignDevice.device_id).where(
        CampaignDevice.campaign_id == c.id, CampaignDevice.status == "offered")))
    return c, offered
