"""Alerts: revoked pass presented (raised at ingest), refused control
messages and dead letters (raised by the bridge), and the periodic fleet
check: device offline > N minutes, config/revocation drift, clock drift,
outbox backlog, tamper, gate error.

Every kind is grouped (raise_grouped): one open alert per group key
(kind, subject, group fields) whose `count` and `last_seen_at` grow with
each occurrence, not one row per report. The subject is the device, except
REVOKED_PRESENTED: the pass at a business (23 scans of the same lost card =
one alert, count 23; a business manager sees the attempts at their gates).
A fleet check that still finds its condition counts one more occurrence.
The key is unique among open alerts (a partial unique index): the raise is
one atomic upsert, so bridge workers racing on the same group add up.
Acknowledging closes a group; the next occurrence opens a new one.

Severity per kind (SEVERITY; docs/dashboard.md "Alerts"): critical = a
person or a gate needs someone now (revoked pass at a gate, tamper, a gate
refusing every pass); warning = the fleet drifts from what was sent or
loses data; info = worth a look. New critical groups are queued for the
webhook (fleet/services/notify.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.core.config import Settings
from fleet.models import Alert, DeadLetter, Device, Site, utcnow

from fleet.broker_bridge import topics
from greengate.passes import reasons

from . import audit, control, versions

SEVERITIES = ("critical", "warning", "info")
SEVERITY = {
    "REVOKED_PRESENTED": "critical", "TAMPER": "critical", "GATE_ERROR": "critical",
    "DEVICE_OFFLINE": "warning", "CONFIG_DRIFT": "warning", "REVOCATION_DRIFT": "warning",
    "DCC_DRIFT": "warning", "CONTROL_REJECTED": "warning", "INGEST_DEAD_LETTER": "warning",
    "OTA_HALTED": "warning",
    "CLOCK_DRIFT": "info", "OUTBOX_BACKLOG": "info",
}
KINDS = ("REVOKED_PRESENTED", "DEVICE_OFFLINE", "CONFIG_DRIFT", "REVOCATION_DRIFT", "DCC_DRIFT",
         "CLOCK_DRIFT", "OUTBOX_BACKLOG", "TAMPER", "GATE_ERROR", "CONTROL_REJECTED",
         "INGEST_DEAD_LETTER", "OTA_HALTED")
# state key 12 [kind, reason, version] with reason INTERNAL: the gate could not
# build its decider (kind 0: out of heap after a retry and a reset) or a
# signed file on its flash is damaged (kind 1-3): it refuses passes until
# the next good control message (docs/protocol.md 4.2)
INTERNAL = reasons.code("INTERNAL")
# protocol 5: the kind of a control message (0: the gate's decider rebuild)
MESSAGE_KINDS = ("decider", "config", "trust", "revocation", "command", "provision", "firmware", "dcc")
ACK_NOTE_MAX = 300
ACK_MANY_MAX = 500  # alerts per acknowledge request


def group_key(kind: str, subject: str, group: dict) -> str:
    key = "|".join([kind, subject, *(f"{k}={group[k]}" for k in sorted(group))])
    if len(key) > 200:  # the column's width: a long key is its digest (still unique)
        key = f"{kind}|sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def _upsert(db: Session, kind: str, key: str, device_id: str | None, business_id: str | None,
            detail: dict, now: dt.datetime, n: int) -> tuple[int, bool]:
    """INSERT the group or add n to the open one; (alert id, opened now)."""
    table = Alert.__table__
    pg = db.get_bind().dialect.name == "postgresql"
    ins = (postgresql.insert if pg else sqlite.insert)(table)
    critical = SEVERITY[kind] == "critical"
    pass_hash = detail.get("pass_hash") if kind == "REVOKED_PRESENTED" else None
    stmt = ins.values(
        kind=kind, severity=SEVERITY[kind], group_key=key, device_id=device_id,
        pass_hash=pass_hash if isinstance(pass_hash, str) and len(pass_hash) == 32 else None,
        business_id=business_id, detail=detail, count=n, created_at=now, last_seen_at=now,
        notify_state="pending" if critical else None, notify_next_at=now if critical else None,
        notify_attempts=0,
    ).on_conflict_do_update(
        index_elements=[table.c.group_key], index_where=table.c.acknowledged_at.is_(None),
        set_={"count": table.c["count"] + ins.excluded["count"],
              "last_seen_at": ins.excluded.last_seen_at, "detail": ins.excluded.detail,
              "device_id": ins.excluded.device_id},
    ).returning(table.c.id, table.c["count"])
    alert_id, count = db.execute(stmt).one()
    return alert_id, count == n


def raise_grouped(db: Session, kind: str, device_id: str | None, business_id: str | None,
                  group: dict, now: dt.datetime | None = None, *, subject: str | None = None,
                  n: int = 1, **detail: object) -> Alert:
    """The open alert of this kind, subject (default: the device) and `group`
    (detail fields that must match) counts n more occurrences, with the
    latest detail; else a new group (count n)."""
    return _raise(db, kind, device_id, business_id, group, now, subject, n, detail)[0]


def _raise(db: Session, kind: str, device_id: str | None, business_id: str | None, group: dict,
           now: dt.datetime | None, subject: str | None, n: int,
           detail: dict) -> tuple[Alert, bool]:
    key = group_key(kind, subject or f"dev:{device_id}", group)
    alert_id, new = _upsert(db, kind, key, device_id, business_id, {**detail, **group},
                            now or utcnow(), n)
    return db.get(Alert, alert_id, populate_existing=True), new


def revoked_presented(db: Session, presented: Iterable[tuple[str, int, int | None, str | None]],
                      now: dt.datetime | None = None) -> list[Alert]:
    """REVOKED_PRESENTED for newly stored scans (device, seq, site, pass
    hash): one upsert per (pass, business) of the batch, counting its scans."""
    groups: dict[tuple[str | None, str | None], list] = {}
    for device_id, seq, site_id, pass_hash in presented:
        site = db.get(Site, site_id) if site_id is not None else None
        g = groups.setdefault((pass_hash, site.business_id if site else None), [0, None])
        g[0] += 1
        g[1] = (device_id, seq)
    out = []
    # in key order: two workers' batches lock the same groups in the same order (no deadlock)
    for (pass_hash, business_id), (n, (device_id, seq)) in sorted(
            groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
        subject = f"pass:{pass_hash}@{business_id}" if pass_hash else f"dev:{device_id}"
        out.append(raise_grouped(db, "REVOKED_PRESENTED", device_id, business_id,
                                 {"pass_hash": pass_hash}, now, subject=subject, n=n, seq=seq))
    return out


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
    return raise_grouped(db, kind, device.id, business_of(db, device),
                         {"reason": reasons.name(reason)},
                         message_kind=_message_kind(message_kind), version=version)


def _message_kind(code: int) -> str | int:
    return MESSAGE_KINDS[code] if 0 <= code < len(MESSAGE_KINDS) else code


def _drift_detail(db: Session, applied: int | None, desired: int, kind: str | None = None) -> dict:
    """List versions, as every page shows them (services/versions.py), not
    message ids; `resigned`: the list is the same, its newer signature is not applied."""
    lists = versions.list_versions(db, [applied, desired], kind)
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
    dcc_desired = control.desired_version(db, topics.DCC, settled)
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
        # state key 16 comes once a gate applied a DCC table: one without it
        # (older firmware, or none applied yet) is not counted here; a refused
        # kind-7 message raises CONTROL_REJECTED
        if dcc_desired and device.dcc_version is not None and device.dcc_version < dcc_desired:
            checks.append(("DCC_DRIFT", _drift_detail(db, device.dcc_version, dcc_desired, "dcc")))
        if device.clock_drift_s is not None and abs(device.clock_drift_s) > settings.clock_drift_alert_s:
            checks.append(("CLOCK_DRIFT", {"drift_s": device.clock_drift_s}))
        if (device.outbox_depth or 0) > settings.outbox_alert_depth:
            checks.append(("OUTBOX_BACKLOG", {"depth": device.outbox_depth}))
        if device.tamper:
            checks.append(("TAMPER", {}))
        err = device.last_control_error
        if isinstance(err, list) and len(err) == 3 and err[1] == INTERNAL:
            # the same group as the refusal report itself (control_refused)
            checks.append(("GATE_ERROR", {"message_kind": _message_kind(err[0]), "version": err[2]}))
        for kind, detail in checks:
            group = {"reason": "INTERNAL"} if kind == "GATE_ERROR" else {}
            a, new = _raise(db, kind, device.id, bid, group, now, None, 1, detail)
            if new:
                raised.append(a)
    db.flush()
    return raised


def acknowledge(db: Session, alert_ids: int | Iterable[int], actor: str, note: str = "",
                scope: str | None = None) -> list[Alert]:
    """Acknowledge one or many open alerts with an optional note (audited,
    one record per alert). `scope`: a business manager's business, every
    alert must be of it. One id that is already acknowledged is a conflict;
    in a batch such ids are skipped (someone else was quicker)."""
    ids = sorted({alert_ids} if isinstance(alert_ids, int) else set(alert_ids))
    if not ids or len(ids) > ACK_MANY_MAX:
        raise errors.BadRequest(f"acknowledge 1..{ACK_MANY_MAX} alerts / "
                                f"xác nhận 1..{ACK_MANY_MAX} cảnh báo", code="BAD_SELECTION")
    note = (note or "").strip()
    if len(note) > ACK_NOTE_MAX:
        raise errors.BadRequest(f"note: at most {ACK_NOTE_MAX} characters / "
                                f"ghi chú: tối đa {ACK_NOTE_MAX} ký tự", code="BAD_FORM")
    if not 0 < ids[0] <= ids[-1] < 2**31:  # outside the id column: no such alert (PG would refuse the query)
        raise errors.NotFound(f"alert {ids[-1] if ids[-1] >= 2**31 else ids[0]} not found")
    rows = list(db.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)
                           .with_for_update()))
    if len(rows) != len(ids):
        missing = sorted(set(ids) - {a.id for a in rows})
        raise errors.NotFound(f"alert {missing[0]} not found")
    if scope is not None and any(a.business_id != scope for a in rows):
        raise errors.Forbidden("not your business", code="BUSINESS_SCOPE")
    todo = [a for a in rows if a.acknowledged_at is None]
    if not todo and len(ids) == 1:
        raise errors.Conflict("alert already acknowledged", code="ALREADY_ACKNOWLEDGED")
    now = utcnow()
    for a in todo:
        a.acknowledged_by, a.acknowledged_at, a.ack_note = actor, now, note or None
        audit.record(db, actor, "alert.ack", "alert", a.id, kind=a.kind, count=a.count,
                     **({"note": note} if note else {}))
    return todo
