"""Alerts: revoked pass presented (raised at ingest), and the periodic fleet
check: device offline > N minutes, config/revocation drift, clock drift,
outbox backlog, tamper. An open (unacknowledged) alert of the same kind for
the same device is not raised twice.

Event alerts are grouped (raise_grouped): a control message a gate refused
(state key 12, every reason: CTRL_* and INTERNAL) is one open alert per
(device, alert kind, reason) whose `count` and `last_seen_at` grow with each
new refusal, not one row per report."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.core.config import Settings
from fleet.models import Alert, DeadLetter, Device, Site, utcnow

from fleet.broker_bridge import topics
from greengate.passes import reasons

from . import control, versions

KINDS = ("REVOKED_PRESENTED", "DEVICE_OFFLINE", "CONFIG_DRIFT", "REVOCATION_DRIFT",
         "CLOCK_DRIFT", "OUTBOX_BACKLOG", "TAMPER", "GATE_ERROR", "CONTROL_REJECTED",
         "INGEST_DEAD_LETTER")
# state key 12 [kind, reason, version] with reason INTERNAL: the gate could not
# build its decider (kind 0: out of heap after a retry and a reset) or a
# signed file on its flash is damaged (kind 1-3): it refuses passes until
# the next good control message (docs/protocol.md 4.2)
INTERNAL = reasons.code("INTERNAL")
# protocol 5: the kind of a control message (0: the gate's decider rebuild)
MESSAGE_KINDS = ("decider", "config", "trust", "revocation", "command")


def _open(db: Session, kind: str, device_id: str) -> bool:
    return db.scalar(select(Alert.id).where(Alert.kind == kind, Alert.device_id == device_id,
                                            Alert.acknowledged_at.is_(None)).limit(1)) is not None


def raise_alert(db: Session, kind: str, device: Device, business_id: str | None,
                **detail: object) -> Alert | None:
    if _open(db, kind, device.id):
        return None
    a = Alert(kind=kind, device_id=device.id, business_id=business_id, detail=detail)
    db.add(a)
    return a


def raise_grouped(db: Session, kind: str, device_id: str, business_id: str | None,
                  group: dict, now: dt.datetime | None = None, **detail: object) -> Alert:
    """The open alert of this kind, device and `group` (detail fields that
    must match) counts one more occurrence, with the latest detail; else a
    new one (count 1)."""
    now = now or utcnow()
    for a in db.scalars(select(Alert).where(Alert.kind == kind, Alert.device_id == device_id,
                                            Alert.acknowledged_at.is_(None))
                        .order_by(Alert.id).with_for_update()):
        if all((a.detail or {}).get(k) == v for k, v in group.items()):
            a.count = (a.count or 1) + 1
            a.last_seen_at = now
            a.detail = {**(a.detail or {}), **detail, **group}  # a new dict: JSON is not mutable-tracked
            return a
    a = Alert(kind=kind, device_id=device_id, business_id=business_id, detail={**detail, **group},
              count=1, created_at=now, last_seen_at=now)
    db.add(a)
    return a


def raise_dead_letter(db: Session, row: DeadLetter) -> Alert:
    """INGEST_DEAD_LETTER: one per dead-letter row (device + payload), raised
    when the row is made, so a gate resending the same message adds none."""
    device = db.get(Device, row.device_id)
    return raise_grouped(db, "INGEST_DEAD_LETTER", row.device_id,
                         business_of(db, device) if device is not None else None,
                         {"dead_letter": row.id}, code=row.code,
                         topic=row.topic.rsplit("/", 1)[-1], payload_sha256=row.payload_sha256)


def business_of(db: Session, device: Device) -> str | None:
    site = db.get(Site, device.site_id) if device.site_id is not None else None
    return site.business_id if site else None


def control_refused(db: Session, device: Device, error: list[int]) -> Alert:
    """A gate reported (state key 12) that it refused a control message, or
    that applying one failed (INTERNAL: GATE_ERROR, it may refuse passes)."""
    message_kind, reason, version = error
    kind = "GATE_ERROR" if reason == INTERNAL else "CONTROL_REJECTED"
    return raise_grouped(
        db, kind, device.id, business_of(db, device), {"reason": reasons.name(reason)},
        message_kind=MESSAGE_KINDS[message_kind] if 0 <= message_kind < len(MESSAGE_KINDS)
        else message_kind, version=version)


def _drift_detail(db: Session, applied: int | None, desired: int) -> dict:
    """List versions, as every page shows them (services/versions.py), not
    message ids; `resigned`: the list is the same, its newer signature is not applied."""
    lists = versions.list_versions(db, [applied, desired])
    state = versions.state(applied, desired, lists)
    detail = {"applied": state.applied, "desired": state.desired}
    if state.resign_only:
        detail["resigned"] = True
    return detail


def evaluate(db: Session, settings: Settings, now: dt.datetime | None = None) -> list[Alert]:
    now = now or utcnow()
    # a gate gets DRIFT_GRACE to apply what was published before it counts as drift
    settled = now - dt.timedelta(seconds=settings.drift_grace_s)
    rev_desired = control.desired_version(db, topics.REVOCATION, settled)
    raised = []
    for device in db.scalars(select(Device).where(Device.status == "active")):
        bid = business_of(db, device)
        checks = []
        if device.last_seen is not None and not device.online and \
                now - device.last_seen > dt.timedelta(seconds=settings.device_offline_after_s):
            checks.append(("DEVICE_OFFLINE", {"last_seen": device.last_seen.isoformat()}))
        cfg_desired = control.desired_version(db, topics.config(device.id), settled)
        for kind, applied, desired in (("CONFIG_DRIFT", device.config_version, cfg_desired),
                                       ("REVOCATION_DRIFT", device.revocation_version, rev_desired)):
            if desired is not None and (applied or 0) < desired:
                checks.append((kind, _drift_detail(db, applied, desired)))
        if device.clock_drift_s is not None and abs(device.clock_drift_s) > settings.clock_drift_alert_s:
            checks.append(("CLOCK_DRIFT", {"drift_s": device.clock_drift_s}))
        if (device.outbox_depth or 0) > settings.outbox_alert_depth:
            checks.append(("OUTBOX_BACKLOG", {"depth": device.outbox_depth}))
        if device.tamper:
            checks.append(("TAMPER", {}))
        err = device.last_control_error
        if isinstance(err, list) and len(err) == 3 and err[1] == INTERNAL:
            checks.append(("GATE_ERROR", {"message_kind": err[0], "version": err[2]}))
        for kind, detail in checks:
            a = raise_alert(db, kind, device, bid, **detail)
            if a is not None:
                raised.append(a)
    db.flush()
    return raised


def acknowledge(db: Session, alert_id: int, actor: str) -> Alert:
    a = db.get(Alert, alert_id)
    if a is None:
        raise errors.NotFound(f"alert {alert_id} not found")
    if a.acknowledged_at is not None:
        raise errors.Conflict("alert already acknowledged", code="ALREADY_ACKNOWLEDGED")
    a.acknowledged_by, a.acknowledged_at = actor, utcnow()
    return a
