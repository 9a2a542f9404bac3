from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from fleet.api.deps import Operator, SessionDep
from fleet.api.schemas import AuditOut
from fleet.models import AuditLog

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
def list_audit(_: Operator, db: SessionDep, action: str | None = None,
               target_id: str | None = None, limit: int = Query(200, ge=1, le=5000)) -> list:
    q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if action:
        q = q.where(AuditLog.action.startswith(action))
    if target_id:
        q = q.where(AuditLog.target_id == target_id)
    return list(db.scalars(q))
