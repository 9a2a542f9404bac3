"""Accounts (admin only): list, create, change. The rules (roles and
businesses, password strength, self and last-admin protection, sessions
ended, audit) live in fleet.services.users; one's own password is
`POST /me/password` (routes/login.py)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import Admin, SessionDep
from fleet.api.schemas import UserIn, UserOut, UserPatch
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


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: int, _: Admin, db: SessionDep) -> User:
    return users.get_user(db, user_id)


@router.patch("/{user_id}", response_model=UserOut,
              summary="Activate/deactivate, reset the password, change role/business/language")
def update_user(user_id: int, body: UserPatch, admin: Admin, db: SessionDep) -> User:
    user = users.get_user(db, user_id)
    given = body.model_fields_set
    users.update_user(db, admin.username, user, actor_id=admin.id, active=body.active,
                      password=body.password, role=body.role, language=body.language,
                      business_id=body.business_id if "business_id" in given else users.UNSET)
    return user

