from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Operator, SessionDep, business_scope, check_business
from fleet.api.schemas import BusinessIn, BusinessOut, BusinessPatch, ReasonIn
from fleet.core import errors
from fleet.models import Business, BusinessStatus
from fleet.services import audit, control, f0, registry

router = APIRouter(prefix="/businesses", tags=["businesses"])


@router.get("", response_model=list[BusinessOut])
def list_businesses(user: CurrentUser, db: SessionDep, status: BusinessStatus | None = None) -> list:
    q = select(Business).order_by(Business.id)
    if (scope := business_scope(user)) is not None:
        q = q.where(Business.id == scope)
    if status is not None:
        q = q.where(Business.status == status.value)
    return list(db.scalars(q))


@router.post("", response_model=BusinessOut, status_code=201)
def create_business(body: BusinessIn, user: Operator, db: SessionDep) -> Business:
    if db.get(Business, body.id) is not None:
        raise errors.Conflict(f"business {body.id} exists", code="BUSINESS_EXISTS")
    b = Business(**{**body.model_dump(), "sector": body.sector.value, "zone": body.zone.value,
                    "operating_mode": body.operating_mode.value})
    db.add(b)
    db.flush()
    audit.record(db, user.username, "business.create", "business", b.id)
    return b


@router.get("/{business_id}", response_model=BusinessOut)
def get_business(business_id: str, user: CurrentUser, db: SessionDep) -> Business:
    check_business(user, business_id)
    return registry.get_business(db, business_id)


@router.patch("/{business_id}", response_model=BusinessOut)
def update_business(business_id: str, body: BusinessPatch, user: Operator, db: SessionDep) -> Business:
    b = registry.get_business(db, business_id)
    changes = {k: (v.value if hasattr(v, "value") else v)
               for k, v in body.model_dump(exclude_unset=True).items()}
    for k, v in changes.items():
        setattr(b, k, v)
    audit.record(db, user.username, "business.update", "business", b.id, fields=sorted(changes))
    if "zone" in changes:
        control.enqueue_business_configs(db, b.id)
    return b


@router.post("/{business_id}/approve", response_model=BusinessOut)
def approve(business_id: str, user: Operator, db: SessionDep) -> Business:
    b = registry.get_business(db, business_id)
    if b.status == BusinessStatus.SUSPENDED.value:
        raise errors.Conflict("suspended: use reinstate / đang tạm dừng: dùng khôi phục",
                              code="SUSPENDED")
    missing = [k for k in ("two_doses", "five_k", "plan_approved") if not getattr(b, k)]
    if missing:
        raise errors.Conflict("approval conditions not met / chưa đủ điều kiện: " + ", ".join(missing),
                              code="CONDITIONS", missing=missing)
    return registry.set_business_status(db, b, BusinessStatus.APPROVED, user.username)


@router.post("/{business_id}/suspend", response_model=BusinessOut)
def suspend(business_id: str, body: ReasonIn, user: Operator, db: SessionDep) -> Business:
    b = registry.get_business(db, business_id)
    return registry.set_business_status(db, b, BusinessStatus.SUSPENDED, user.username, body.reason)


@router.post("/{business_id}/reinstate", response_model=BusinessOut,
             summary="Reinstate a suspended business (last F0 workflow step)")
def reinstate(business_id: str, user: Operator, db: SessionDep) -> Business:
    f0.reinstate(db, business_id, user.username)
    return registry.get_business(db, business_id)
