"""Audit trail: every state-changing action records who did what to which object."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fleet.models import AuditLog


def record(db: Session, actor: str, action: str, target_type: str, target_id: object,
           **detail: object) -> AuditLog:
    row = AuditLog(actor=actor, action=action, target_type=target_type,
                   target_id=str(target_id), detail=detail)
    db.add(row)
    return row
