"""Worker allowlists: the business manager drafts, the district approves."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fleet.api.deps import CurrentUser, Manager, Operator, SessionDep, check_business
from fleet.api.schemas import AllowlistIn, AllowlistOut
from fleet.core import errors
from fleet.models import AllowlistEntry, Pass, utcnow
from fleet.services import audit, control, registry

router = APIRouter(tags=["allowlists"])


@router.get("/businesses/{business_id}/allowlist", response_model=list[AllowlistOut])
def list_entries(business_id: str, user: CurrentUser, db: SessionDep,
                 status: Literal["draft", "approved", "rejected", "removed"] | None = None) -> list:
    check_business(user, business_id)
    q = select(AllowlistEntry).where(AllowlistEntry.business_id == business_id)
    if status:
        q = q.where(AllowlistEntry.status == status)
    return list(db.scalars(q.order_by(AllowlistEntry.id)))


@router.post("/businesses/{business_id}/allowlist", response_model=AllowlistOut, status_code=201,
             summary="Draft a worker onto the allowlist (business manager or district)")
def draft(business_id: str, body: AllowlistIn, user: Manager, db: SessionDep) -> AllowlistEntry:
    check_business(user, business_id)
    registry.get_business(db, business_id)
    h = body.pass_hash.lower()
    p = db.scalar(select(Pass).where(Pass.pass_hash == h))
    if p is not None and p.business_id not in (None, business_id):
        raise errors.Conflict("pass belongs to another business", code="WRONG_BUSINESS")
    entry = AllowlistEntry(business_id=business_id, pass_hash=h, cti=p.cti if p else None,
                           drafted_by=user.username)
    try:
        with db.begin_nested():
            db.add(entry)
            db.flush()
    except IntegrityError:
        raise errors.Conflict("already on the allowlist", code="ALREADY_LISTED") from None
    audit.record(db, user.username, "allowlist.draft", "allowlist_entry", entry.id,
                 business_id=business_id, pass_hash=h)
    return entry


def _decide(entry_id: int, status: str, user, db) -> AllowlistEntry:  # noqa: ANN001
    entry = db.get(AllowlistEntry, entry_id)
    if entry is None:
        raise errors.NotFound(f"allowlist entry {entry_id} not found")
    if status in ("approved", "rejected") and entry.status != "draft":
        raise errors.Conflict(f"entry is {entry.status}, not draft", code="NOT_DRAFT")
    entry.status, entry.approved_by, entry.decided_at = status, user.username, utcnow()
    audit.record(db, user.username, f"allowlist.{status}", "allowlist_entry", entry.id,
                 business_id=entry.business_id, pass_hash=entry.pass_hash)
    control.enqueue_business_configs(db, entry.business_id)
    return entry


@router.post("/allowlist/{entry_id}/approve", response_model=AllowlistOut)
def approve(entry_id: int, user: Operator, db: SessionDep) -> AllowlistEntry:
    return _decide(entry_id, "approved", user, db)


@router.post("/allowlist/{entry_id}/reject", response_model=AllowlistOut)
def reject(entry_id: int, user: Operator, db: SessionDep) -> AllowlistEntry:
    return _decide(entry_id, "rejected", user, db)


@router.post("/allowlist/{entry_id}/remove", response_model=AllowlistOut)
def remove(entry_id: int, user: Manager, db: SessionDep) -> AllowlistEntry:
    entry = db.get(AllowlistEntry, entry_id)
    if entry is None:
        raise errors.NotFound(f"allowlist entry {entry_id} not found")
    check_business(user, entry.business_id)
    return _decide(entry_id, "removed", user, db)
