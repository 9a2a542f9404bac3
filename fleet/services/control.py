"""Control messages the fleet sends to gates, recorded in the transactional
outbox (models.ControlOutbox) and signed + published by the broker bridge.

Bodies are JSON-friendly dicts (bytes as hex); fleet/broker_bridge/publisher.py
turns them into the signed wire form of docs/protocol.md.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.broker_bridge import topics
from fleet.models import (ZONE_CODE, AllowlistEntry, Business, BusinessStatus, ControlOutbox,
                          Issuer, Revocation, Site, Zone)

COMMANDS = ("sync", "open_gate", "show_message", "reboot", "screenshot")


def site_config_body(db: Session, site: Site) -> dict:
    business = db.get(Business, site.business_id)
    allow = db.scalars(
        select(AllowlistEntry.pass_hash)
        .where(AllowlistEntry.business_id == site.business_id, AllowlistEntry.status == "approved")
        .order_by(AllowlistEntry.pass_hash)
    ).all()
    return {
        "version": site.config_version,
        "site": site.id,
        "business": site.business_id,
        "suspended": business.status != BusinessStatus.APPROVED.value,
        "status": business.status,
        "zone": ZONE_CODE[Zone(business.zone)],
        "capacity": site.capacity,
        "rules": dict(site.rules or {}),
        "allowlist": list(allow),
    }


def enqueue_site_config(db: Session, site: Site) -> ControlOutbox:
    """Bump the site's config version and queue the new retained configuration."""
    site.config_version = (site.config_version or 0) + 1
    db.flush()
    row = ControlOutbox(kind="config", topic=topics.site_config(site.id), retain=True,
                        body=site_config_body(db, site))
    db.add(row)
    return row


def enqueue_business_configs(db: Session, business_id: str) -> list[ControlOutbox]:
    sites = db.scalars(select(Site).where(Site.business_id == business_id)).all()
    return [enqueue_site_config(db, s) for s in sites]


def revocation_version(db: Session) -> int:
    return db.scalar(select(func.max(Revocation.version))) or 0


# A delta is cumulative since the latest snapshot (retained, like the snapshot):
# a gate that holds snapshot S applies the one retained delta whose base is S,
# whatever deltas it missed while offline. Past DELTA_MAX entries a new
# snapshot is cut and the delta starts again from it.
DELTA_MAX = 1000


def snapshot_version(db: Session) -> int | None:
    row = db.scalar(select(ControlOutbox).where(ControlOutbox.kind == "revocation_snapshot")
                    .order_by(ControlOutbox.id.desc()).limit(1))
    return None if row is None else int(row.body["version"])


def enqueue_revocation_update(db: Session) -> list[ControlOutbox]:
    version = revocation_version(db)
    base = snapshot_version(db)
    if base is None or version - base > DELTA_MAX:
        snap = enqueue_revocation_snapshot(db)
        base = version
        out = [snap]
    else:
        out = []
    added = db.scalars(
        select(Revocation.pass_hash).where(Revocation.version > base)
        .order_by(Revocation.pass_hash)
    ).all()
    row = ControlOutbox(kind="revocation_delta", topic=topics.REVOCATION_DELTA, retain=True,
                        body={"base": base, "version": version, "added": list(added),
                              "removed": []})
    db.add(row)
    return out + [row]


def enqueue_revocation_snapshot(db: Session) -> ControlOutbox:
    version = revocation_version(db)
    hashes = db.scalars(select(Revocation.pass_hash).order_by(Revocation.pass_hash)).all()
    row = ControlOutbox(kind="revocation_snapshot", topic=topics.REVOCATION_SNAPSHOT, retain=True,
                        body={"version": version, "hashes": list(hashes)})
    db.add(row)
    db.flush()
    return row


def enqueue_trust_list(db: Session) -> ControlOutbox:
    issuers = db.scalars(select(Issuer).where(Issuer.active.is_(True)).order_by(Issuer.id)).all()
    version = db.scalar(select(func.count()).select_from(ControlOutbox)
                        .where(ControlOutbox.kind == "trust")) or 0
    row = ControlOutbox(kind="trust", topic=topics.TRUST, retain=True,
                        body={"version": version + 1,
                              "keys": [{"iss": i.iss, "kid": i.kid, "public_key": i.public_key}
                                       for i in issuers]})
    db.add(row)
    return row


def enqueue_command(db: Session, device_id: str, command: str, args: dict | None = None) -> ControlOutbox:
    row = ControlOutbox(kind="command", topic=topics.command(device_id), retain=False,
                        body={"device": device_id, "command": command, "args": args or {}})
    db.add(row)
    db.flush()
    row.body = {**row.body, "id": row.id}
    return row
