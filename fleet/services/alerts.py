"""Alerts: revoked pass presented (raised at ingest), and the periodic fleet
check: device offline > N minutes, config/revocation drift, clock drift,
outbox backlog, tamper. An open (unacknowledged) alert of the same kind for
the same device is not raised twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.core.config import Settings
from fleet.models import Alert, DeadLetter, Device, Site, utcnow

from fleet.broker_bridge import topics
from greengate.passes import reasons

from . import control

KINDS = ("REVOKED_PRESENTED", "DEVICE_OFFLINE", "CONFIG_DRIFT", "REVOCATION_DRIFT",
         "CLOCK_DRIFT", "OUTBOX_BACKLOG", "TAMPER", "GATE_ERROR", "INGEST_DEAD_LETTER")
# state key 12 [kind, reason, version] with reason INTERNAL: the gate could not
# build its decider (kind 0: out of heap after a retry and a reset) or a
# signed file on its flash is damaged (kind 1-3): it refuses passes until
# the next good control message (docs/protocol.md 4.2)
INTERNAL = reasons.code("INTERNAL")


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


def raise_dead_letter(db: Session, row: DeadLetter) -> Alert:
    """INGEST_DEAD_LETTER: one per dead-letter row (device + payload), raised
    when the row is made, so a gate resending the same message adds none."""
    device = db.get(Device, row.device_id)
    site = db.get(Site, device.site_id) if device is not None and device.site_id is not None else None
    a = Alert(kind="INGEST_DEAD_LETTER", device_id=row.device_id,
              business_id=site.business_id if site else None,
              detail={"dead_letter": row.id, "code": row.code, "topic": row.topic.rsplit("/", 1)[-1],
                      "payload_sha256": row.payload_sha256})
    db.add(a)
    return a


def evaluate(db: Session, settings: Settings, now: dt.datetime | None = None) -> list[Alert]:
    now = now or utcnow()
    # a gate gets DRIFT_GRACE to apply what was published before it counts as drift
    settled = now - dt.timedelta(seconds=settings.drift_grace_s)
    rev_desired = control.desired_version(db, topics.REVOCATION, settled)
    raised = []
    for device in db.scalars(select(Device).where(Device.status == "active")):
        site = db.get(Site, device.site_id) if device.site_id is not None else None
        bid = site.business_id if site else None
        checks = []
        if device.last_seen is not None and not device.online and \
                now - device.last_seen > dt.timedelta(seconds=settings.device_offline_after_s):
            checks.append(("DEVICE_OFFLINE", {"last_seen": device.last_seen.isoformat()}))
        cfg_desired = control.desired_version(db, topics.config(device.id), settled)
        if cfg_desired is not None and (device.config_version or 0) < cfg_desired:
            checks.append(("CONFIG_DRIFT", {"applied": device.config_version,
                                            "desired": cfg_desired}))
        if rev_desired is not None and (device.revocation_version or 0) < rev_desired:
            checks.append(("REVOCATION_DRIFT", {"applied": device.revocation_version,
                                                "desired": rev_desired}))
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
