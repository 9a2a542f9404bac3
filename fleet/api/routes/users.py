from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import Admin, SessionDep
from fleet.api.schemas import UserIn, UserOut
from fleet.models import User
from fleet.services import audit, users

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[UserOut])
def list_users(_: Admin, db: SessionDep) -> list[User]:
    return list(db.scalars(select(User).order_by(User.id)))


@router.post("", response_model=UserOut, status_code=201)
def create_user(body: UserIn, admin: Admin, db: SessionDep) -> User:
    user = users.create_user(db, body.username, body.password, body.role, body.business_id,
                             body.language)
    audit.record(db, admin.username, "user.create", "user", user.id, role=user.role,
                 business_id=user.business_id)
    return user
