"""Revocations: each one gets the next list version and queues a delta."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.models import Pass, Revocation

from . import audit, control

REASONS = ("F0", "LOST", "FRAUD", "STATUS_CHANGED", "OTHER")
PASS_HASH = re.compile(r"^[0-9a-f]{32}$")


def check_pass_hash(value: str) -> str:
    value = value.lower()
    if not PASS_HASH.match(value):
        raise errors.BadRequest("pass_hash must be 32 hex digits (16 bytes)", code="BAD_PASS_HASH")
    return value


def revoke(db: Session, pass_hash: str, reason: str, actor: str) -> Revocation:
    """Add the pass to the revocation list (version +1) and queue the delta.
    Concurrent revocations race for the next version: the unique constraint
    decides and the loser retries."""
    pass_hash = check_pass_hash(pass_hash)
    if reason not in REASONS:
        raise errors.BadRequest(f"reason must be one of {', '.join(REASONS)}", code="BAD_REASON")
    if db.scalar(select(Revocation).where(Revocation.pass_hash == pass_hash)) is not None:
        raise errors.Conflict("pass already revoked / thẻ đã bị thu hồi", code="ALREADY_REVOKED")
    for _ in range(5):
        base = control.revocation_version(db)
        row = Revocation(pass_hash=pass_hash, reason=reason, created_by=actor, version=base + 1)
        try:
            with db.begin_nested():
                db.add(row)
                db.flush()
        except IntegrityError:
            continue
        p = db.scalar(select(Pass).where(Pass.pass_hash == pass_hash))
        if p is not None:
            p.status = "f0" if reason == "F0" else "revoked"
        audit.record(db, actor, "pass.revoke", "pass", pass_hash, reason=reason, version=row.version)
        control.enqueue_revocation_update(db)
        return row
    raise errors.Conflict("revocation list busy, try again", code="BUSY")
