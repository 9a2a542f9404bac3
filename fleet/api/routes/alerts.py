from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Manager, SessionDep, SettingsDep, business_scope, check_business
from fleet.api.schemas import AlertOut
from fleet.core import errors
from fleet.models import Alert
from fleet.services import alerts, audit

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=list[AlertOut])
def list_alerts(user: CurrentUser, db: SessionDep, open_only: bool = True, kind: str | None = None,
                limit: int = 200) -> list:
    q = select(Alert).order_by(Alert.id.desc()).limit(max(1, min(limit, 1000)))
    if (scope := business_scope(user)) is not None:
        q = q.where(Alert.business_id == scope)
    if open_only:
        q = q.where(Alert.acknowledged_at.is_(None))
    if kind:
        if kind not in alerts.KINDS:
            raise errors.BadRequest(f"kind must be one of {', '.join(alerts.KINDS)}", code="BAD_KIND")
        q = q.where(Alert.kind == kind)
    return list(db.scalars(q))


@router.post("/evaluate", response_model=list[AlertOut], summary="Run the fleet alert checks now")
def evaluate(user: Manager, db: SessionDep, settings: SettingsDep) -> list:
    if user.role == "manager":
        raise errors.Forbidden("district only", code="ROLE")
    return alerts.evaluate(db, settings)


@router.post("/{alert_id}/ack", response_model=AlertOut)
def acknowledge(alert_id: int, user: Manager, db: SessionDep) -> Alert:
    a = db.get(Alert, alert_id)
    if a is None:
        raise errors.NotFound(f"alert {alert_id} not found")
    if user.role == "manager":
        check_business(user, a.business_id)
    alerts.acknowledge(db, alert_id, user.username)
    audit.record(db, user.username, "alert.ack", "alert", alert_id, kind=a.kind)
    return a
