from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Manager, SessionDep, SettingsDep, business_scope
from fleet.api.schemas import AckIn, AlertOut, NoteIn
from fleet.core import errors
from fleet.models import Alert
from fleet.services import alerts

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=list[AlertOut])
def list_alerts(user: CurrentUser, db: SessionDep, open_only: bool = True, kind: str | None = None,
                severity: str | None = None, limit: int = 200) -> list:
    q = select(Alert).order_by(Alert.id.desc()).limit(max(1, min(limit, 1000)))
    if (scope := business_scope(user)) is not None:
        q = q.where(Alert.business_id == scope)
    if open_only:
        q = q.where(Alert.acknowledged_at.is_(None))
    if kind:
        if kind not in alerts.KINDS:
            raise errors.BadRequest(f"kind must be one of {', '.join(alerts.KINDS)}", code="BAD_KIND")
        q = q.where(Alert.kind == kind)
    if severity:
        if severity not in alerts.SEVERITIES:
            raise errors.BadRequest(f"severity must be one of {', '.join(alerts.SEVERITIES)}",
                                    code="BAD_SEVERITY")
        q = q.where(Alert.severity == severity)
    return list(db.scalars(q))


@router.post("/evaluate", response_model=list[AlertOut], summary="Run the fleet alert checks now")
def evaluate(user: Manager, db: SessionDep, settings: SettingsDep) -> list:
    if user.role == "manager":
        raise errors.Forbidden("district only", code="ROLE")
    return alerts.evaluate(db, settings)


@router.post("/ack", response_model=list[AlertOut],
             summary="Acknowledge several alerts with a note (already acknowledged ones are skipped)")
def acknowledge_many(body: AckIn, user: Manager, db: SessionDep) -> list:
    return alerts.acknowledge(db, body.ids, user.username, body.note, scope=business_scope(user))


@router.post("/{alert_id}/ack", response_model=AlertOut)
def acknowledge(alert_id: int, user: Manager, db: SessionDep, body: NoteIn | None = None) -> Alert:
    note = body.note if body is not None else ""
    return alerts.acknowledge(db, [alert_id], user.username, note, scope=business_scope(user))[0]
