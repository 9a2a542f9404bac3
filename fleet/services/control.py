"""Control messages the fleet sends to gates (docs/protocol.md section 5),
recorded in the transactional outbox (models.ControlOutbox) and signed and
published by the broker bridge. The outbox row id is the signed version.

Bodies here are JSON-friendly (hashes as hex, blob references by SHA-256);
fleet/broker_bridge/wire.py turns them into the protocol's CBOR.

- config: one retained message per device topic (`gg/v1/dev/{id}/config`),
  site-scoped, carrying the allowlist as a blob;
- trust: the issuer trust list (`gg/v1/fleet/trust`);
- revocation: a manifest of a GGRV snapshot blob + a cumulative GGRD delta
  blob (`gg/v1/fleet/revocation`); a new snapshot is cut when the delta
  passes DELTA_MAX entries;
- dcc: the EU DCC signer (DSC) table (`gg/v1/fleet/dcc`, kind 7): a GGDT
  snapshot blob + a delta blob since it (greengate/dcc/table.py); a new
  snapshot is cut when the delta passes DCC_DELTA_MAX changed signers;
- command: to one device, never retained.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import cbor2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.broker_bridge import topics
from fleet.models import (AllowlistEntry, Blob, Business, BusinessStatus, ControlOutbox, DccList, Device,
                          Issuer, Revocation, RevocationSnapshot, Site, utcnow)
from greengate.control import revocation as ggrev
from greengate.dcc import table as ggdt

# code, name, JSON args -> wire args (protocol 5.2)
COMMANDS = {"sync": 1, "open_gate": 2, "show_message": 3, "reboot": 4, "screenshot": 5}
DELTA_MAX = 2000  # protocol 7.2: cut a new snapshot past 2,000 delta entries
# DCC table: a delta entry is a whole signer (~90 B EC, ~300-530 B RSA), so cut
# a new snapshot sooner (about a quarter of a 1,000-key table)
DCC_DELTA_MAX = 250
RESIGN_AFTER = dt.timedelta(hours=12)  # protocol 5.4: re-sign every list at least every 12 h
DEFAULT_MAX_AGE = {1: 86400, 2: 86400, 3: 86400}


def store_blob(db: Session, kind: str, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    if db.get(Blob, sha) is None:
        db.add(Blob(sha256=sha, kind=kind, data=data))
        db.flush()
    return sha


# -- configuration ------------------------------------------------------------------

def allowlist_blob(db: Session, business_id: str) -> str | None:
    hashes = db.scalars(
        select(AllowlistEntry.pass_hash)
        .where(AllowlistEntry.business_id == business_id, AllowlistEntry.status == "approved")
        .order_by(AllowlistEntry.pass_hash)
    ).all()
    if not hashes:
        return None
    return store_blob(db, "allowlist", cbor2.dumps([bytes.fromhex(h) for h in hashes]))


def site_config_body(db: Session, site: Site) -> dict:
    business = db.get(Business, site.business_id)
    return {
        "site": site.id,
        "site_version": site.config_version,
        "business": site.business_id,
        "suspended": business.status != BusinessStatus.APPROVED.value,
        "rules": list(site.rules or []),
        "allowlist": allowlist_blob(db, site.business_id),
        "name": site.name,
        "name_en": site.name_en or site.name,
        "formats": site.formats,
    }


def _config_rows(db: Session, site: Site, devices: list[Device]) -> list[ControlOutbox]:
    body = site_config_body(db, site)
    rows = [ControlOutbox(kind="config", topic=topics.config(d.id), retain=True, body=body)
            for d in devices]
    db.add_all(rows)
    db.flush()
    return rows


def site_devices(db: Session, site_id: int) -> list[Device]:
    return list(db.scalars(select(Device).where(Device.site_id == site_id,
                                                Device.status == "active").order_by(Device.id)))


def enqueue_site_config(db: Session, site: Site) -> list[ControlOutbox]:
    """The site changed: bump its counter and queue its configuration for each of its gates."""
    site.config_version = (site.config_version or 0) + 1
    db.flush()
    return _config_rows(db, site, site_devices(db, site.id))


def enqueue_clear_retained(db: Session, device: Device,
                           which: tuple[str, ...] | None = None) -> list[ControlOutbox]:
    """A gate was retired: remove its retained messages from the broker (an
    empty retained message, unsigned: MQTT's way to delete one), published
    by the bridge with the fleet's broker account: no stale signed config
    waits for whoever connects with that id, and no subscriber is told the
    retired gate's last state. `which`: some of topics.retained(device)."""
    rows = [ControlOutbox(kind="clear", topic=t, retain=True, body={})
            for t in (which or topics.retained(device.id))]
    db.add_all(rows)
    db.flush()
    return rows


def enqueue_device_config(db: Session, device: Device) -> list[ControlOutbox]:
    """A gate registered or moved: send it its site's current configuration."""
    if device.site_id is None:
        return []
    return _config_rows(db, db.get(Site, device.site_id), [device])


def enqueue_business_configs(db: Session, business_id: str) -> list[ControlOutbox]:
    rows: list[ControlOutbox] = []
    for s in db.scalars(select(Site).where(Site.business_id == business_id)):
        rows += enqueue_site_config(db, s)
    return rows


# -- trust list -----------------------------------------------------------------------

def enqueue_trust_list(db: Session) -> ControlOutbox:
    issuers = db.scalars(select(Issuer).where(Issuer.active.is_(True)).order_by(Issuer.id)).all()
    row = ControlOutbox(kind="trust", topic=topics.TRUST, retain=True,
                        body={"keys": [{"iss": i.iss, "kid": i.kid, "public_key": i.public_key}
                                       for i in issuers]})
    db.add(row)
    db.flush()
    return row


# -- revocations ------------------------------------------------------------------------

def revocation_version(db: Session) -> int:
    return db.scalar(select(func.max(Revocation.version))) or 0


def latest_snapshot(db: Session) -> RevocationSnapshot | None:
    return db.scalar(select(RevocationSnapshot).order_by(RevocationSnapshot.id.desc()).limit(1))


def cut_snapshot(db: Session) -> RevocationSnapshot:
    version = revocation_version(db)
    hashes = [bytes.fromhex(h) for h in db.scalars(select(Revocation.pass_hash)
                                                   .where(Revocation.active.is_(True)))]
    data, info = ggrev.build_snapshot(hashes, list_version=version)
    snap = RevocationSnapshot(list_version=version, blob_sha256=store_blob(db, "snapshot", data),
                              entries=info.entries)
    db.add(snap)
    db.flush()
    return snap


def enqueue_revocation_update(db: Session) -> ControlOutbox:
    """Queue the revocation manifest for the current list: the latest snapshot
    (cut now if there is none or the delta grew past DELTA_MAX) plus the
    cumulative delta since it."""
    snap = latest_snapshot(db)
    if snap is None or revocation_version(db) - snap.list_version > DELTA_MAX:
        snap = cut_snapshot(db)
    added, removed = [], []
    for h, active in db.execute(select(Revocation.pass_hash, Revocation.active)
                                .where(Revocation.version > snap.list_version)):
        (added if active else removed).append(bytes.fromhex(h))
    delta = (store_blob(db, "delta", ggrev.build_delta(added, removed, snap.list_version))
             if added or removed else None)
    row = ControlOutbox(kind="revocation", topic=topics.REVOCATION, retain=True,
                        body={"snapshot": snap.blob_sha256, "delta": delta,
                              "list_version": revocation_version(db),
                              "base": snap.list_version})
    db.add(row)
    db.flush()
    return row


# -- DCC signers (kind 7) ----------------------------------------------------------------

def _dcc_signers(db: Session, kids: list[str]) -> list:
    from . import dcc  # dcc imports this module to queue its message

    return [dcc.to_signer(r) for r in dcc.signers_of(db, kids)]


def enqueue_dcc_update(db: Session) -> ControlOutbox | None:
    """Queue the DCC signer message for the current list version: the latest
    GGDT snapshot (cut now if there is none or the signers changed by more
    than DCC_DELTA_MAX since it) plus the delta from it. None before any import."""
    current = db.scalar(select(DccList).order_by(DccList.id.desc()).limit(1))
    if current is None:
        return None
    base = db.scalar(select(DccList).where(DccList.snapshot_sha256.is_not(None))
                     .order_by(DccList.id.desc()).limit(1))
    signers = _dcc_signers(db, current.kids)
    if base is None or len(set(base.kids) ^ set(current.kids)) > DCC_DELTA_MAX:
        current.snapshot_sha256 = store_blob(db, "dcc-snapshot", ggdt.table_bytes(signers, current.id))
        base = current
    delta = None
    if base.id != current.id:
        delta = store_blob(db, "dcc-delta", ggdt.delta_bytes(_dcc_signers(db, base.kids), signers,
                                                             current.id, base.id))
    row = ControlOutbox(kind="dcc", topic=topics.DCC, retain=True,
                        body={"snapshot": base.snapshot_sha256, "delta": delta,
                              "list_version": current.id, "base": base.id, "keys": len(signers)})
    db.add(row)
    db.flush()
    return row


# -- commands -----------------------------------------------------------------------------

def enqueue_command(db: Session, device_id: str, command: str, args: dict | None = None) -> ControlOutbox:
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    row = ControlOutbox(kind="command", topic=topics.command(device_id), retain=False,
                        body={"device": device_id, "command": command, "args": args or {}})
    db.add(row)
    db.flush()
    return row


# -- freshness ----------------------------------------------------------------------------

def latest_row(db: Session, topic: str) -> ControlOutbox | None:
    return db.scalar(select(ControlOutbox).where(ControlOutbox.topic == topic)
                     .order_by(ControlOutbox.id.desc()).limit(1))


def desired_version(db: Session, topic: str, published_before: dt.datetime | None = None) -> int | None:
    """Version of the newest message published on a topic (what a gate should
    have applied), optionally only counting those published before a time."""
    q = select(func.max(ControlOutbox.id)).where(ControlOutbox.topic == topic,
                                                 ControlOutbox.kind != "clear",
                                                 ControlOutbox.published_at.is_not(None))
    if published_before is not None:
        q = q.where(ControlOutbox.published_at <= published_before)
    return db.scalar(q)


def desired_config_versions(db: Session, published_before: dt.datetime | None = None) -> dict[str, int]:
    """{device id: version of the newest configuration published to it}, in one
    grouped query (dashboard drift column for the whole fleet)."""
    q = (select(ControlOutbox.topic, func.max(ControlOutbox.id))
         .where(ControlOutbox.kind == "config", ControlOutbox.published_at.is_not(None))
         .group_by(ControlOutbox.topic))
    if published_before is not None:
        q = q.where(ControlOutbox.published_at <= published_before)
    return {topics.device_of(t): v for t, v in db.execute(q)}


def enqueue_refresh(db: Session, now: dt.datetime | None = None) -> list[ControlOutbox]:
    """Re-sign (new version, new valid_until) every retained list last sent
    more than RESIGN_AFTER ago, so gates never go OUT_OF_SYNC on a quiet day."""
    now = now or utcnow()
    out: list[ControlOutbox] = []

    def stale(topic: str) -> bool:
        row = latest_row(db, topic)
        return row is None or row.created_at < now - RESIGN_AFTER

    if db.scalar(select(func.count()).select_from(Issuer)) and stale(topics.TRUST):
        out.append(enqueue_trust_list(db))
    if stale(topics.REVOCATION):
        out.append(enqueue_revocation_update(db))
    if db.scalar(select(func.count()).select_from(DccList)) and stale(topics.DCC):
        out.append(enqueue_dcc_update(db))
    # newest configuration per gate in one grouped query (10,000 gates)
    last_config = dict(db.execute(
        select(ControlOutbox.topic, func.max(ControlOutbox.created_at))
        .where(ControlOutbox.kind == "config").group_by(ControlOutbox.topic)).all())
    due: dict[int, list[Device]] = {}
    for device in db.scalars(select(Device).where(Device.site_id.is_not(None),
                                                  Device.status == "active").order_by(Device.id)):
        last = last_config.get(topics.config(device.id))
        if last is not None and last.tzinfo is None:  # SQLite returns max() as naive UTC text
            last = last.replace(tzinfo=dt.timezone.utc)
        if last is None or last < now - RESIGN_AFTER:
            due.setdefault(device.site_id, []).append(device)
    for site_id, devices in due.items():  # one body per site, not per gate
        out += _config_rows(db, db.get(Site, site_id), devices)
    return out
