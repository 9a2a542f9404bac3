"""Revocations and their lifting: each change gets the next list version and
queues a delta (added or removed hashes since the last snapshot)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.core.db import write_lock
from fleet.models import Pass, Revocation, utcnow

from . import audit, control

REASONS = ("F0", "LOST", "FRAUD", "STATUS_CHANGED", "OTHER")
# why a revocation is lifted: issued in error, holder recovered (F0 closed),
# lost card found again, other
LIFT_REASONS = ("ERROR", "RECOVERED", "FOUND", "OTHER")
LIFT_NOTE_MAX = 300
PASS_HASH = re.compile(r"^[0-9a-f]{32}$")


def check_pass_hash(value: str) -> str:
    value = value.lower()
    if not PASS_HASH.match(value):
        raise errors.BadRequest("pass_hash must be 32 hex digits (16 bytes)", code="BAD_PASS_HASH")
    return value


def _set_state(db: Session, pass_hash: str, active: bool, change, action: str, reason: str,
               actor: str, enqueue: bool = True, **detail: object) -> Revocation:  # noqa: ANN001
    """Shared by revoke (active=True) and lift (active=False): the pass's row
    (a missing row counts as lifted) must be in the other state; it gets the
    next list version with change(row) applied, then the pass's status, the
    audit record and the delta. Concurrent changes race for the version: the
    unique constraint decides and the loser retries with a fresh maximum."""
    write_lock(db, Revocation)
    for _ in range(5):
        row = db.scalar(select(Revocation).where(Revocation.pass_hash == pass_hash))
        if (row is not None and row.active) == active:
            if active:
                raise errors.Conflict("pass already revoked / thẻ đã bị thu hồi", code="ALREADY_REVOKED")
            raise errors.Conflict("pass is not revoked / thẻ không bị thu hồi", code="NOT_REVOKED")
        if row is None:
            row = Revocation(pass_hash=pass_hash)
        try:
            with db.begin_nested():
                row.version = control.revocation_version(db) + 1
                change(row)
                db.add(row)
                db.flush()
        except IntegrityError:
            continue  # the savepoint's rollback expired the row: the next select reloads it
        p = db.scalar(select(Pass).where(Pass.pass_hash == pass_hash))
        if p is not None:
            if active:
                p.status = "f0" if reason == "F0" else "revoked"
            elif p.status in ("revoked", "f0"):
                p.status = "active"
        audit.record(db, actor, action, "pass", pass_hash, reason=reason, version=row.version, **detail)
        if enqueue:
            control.enqueue_revocation_update(db)
        return row
    raise errors.Conflict("revocation list busy, try again", code="BUSY")


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise errors.BadRequest(f"reason must be one of {', '.join(REASONS)}", code="BAD_REASON")


def _revoke(db: Session, pass_hash: str, reason: str, actor: str, enqueue: bool = True) -> Revocation:
    def change(row: Revocation) -> None:
        row.active, row.reason, row.created_by, row.created_at = True, reason, actor, utcnow()
        row.lift_reason = row.lifted_by = row.lifted_at = row.lift_note = None

    return _set_state(db, pass_hash, True, change, "pass.revoke", reason, actor, enqueue)


def revoke(db: Session, pass_hash: str, reason: str, actor: str) -> Revocation:
    """Add the pass to the revocation list (version +1) and queue the delta.
    A pass lifted earlier is revoked again on its existing row."""
    pass_hash = check_pass_hash(pass_hash)
    _check_reason(reason)
    return _revoke(db, pass_hash, reason, actor)


def revoke_dcc(db: Session, uci: str, country: str, reason: str, actor: str) -> list[Revocation]:
    """Revoke an EU DCC by its certificate identifier: its two EU revocation
    hashes (UCI and COUNTRYCODEUCI, greengate.dcc.revocation) join the list,
    in one delta. Neither the UCI nor anything else of the holder is stored,
    only the hashes (a hash already revoked is left as it is)."""
    from greengate.dcc import revocation as dccrev

    _check_reason(reason)
    try:
        hashes = [h.hex() for h in dccrev.uci_hashes(uci, country)]
    except ValueError as e:
        raise errors.BadRequest(f"{e} / mã chứng nhận (UCI) hoặc mã quốc gia không hợp lệ",
                                code="BAD_UCI") from None
    active = set(db.scalars(select(Revocation.pass_hash).where(Revocation.pass_hash.in_(hashes),
                                                               Revocation.active.is_(True))))
    if active == set(hashes):
        raise errors.Conflict("certificate already revoked / chứng nhận đã bị thu hồi", code="ALREADY_REVOKED")
    rows = [_revoke(db, h, reason, actor, enqueue=False) for h in hashes if h not in active]
    audit.record(db, actor, "dcc.revoke", "dcc", hashes[0], country=country, hashes=hashes, reason=reason)
    control.enqueue_revocation_update(db)
    return rows


def lift(db: Session, pass_hash: str, reason: str, actor: str, note: str = "",
         note_required: bool = False) -> Revocation:
    """Take a pass off the revocation list (version +1): the next delta lists
    it as removed, so gates admit it again; the row stays, for the record.
    `note`: why, in the operator's words (kept on the row and in the audit
    record; the dashboard requires one)."""
    pass_hash = check_pass_hash(pass_hash)
    if reason not in LIFT_REASONS:
        raise errors.BadRequest(f"reason must be one of {', '.join(LIFT_REASONS)}", code="BAD_REASON")
    note = (note or "").strip()
    if len(note) > LIFT_NOTE_MAX or (note_required and not note):
        raise errors.BadRequest(f"note: required, at most {LIFT_NOTE_MAX} characters / "
                                f"ghi chú: bắt buộc, tối đa {LIFT_NOTE_MAX} ký tự", code="LIFT_NOTE")

    def change(row: Revocation) -> None:
        row.active, row.lift_reason, row.lifted_by, row.lifted_at = False, reason, actor, utcnow()
        row.lift_note = note or None

    return _set_state(db, pass_hash, False, change, "pass.unrevoke", reason, actor,
                      **({"note": note} if note else {}))
