"""Users, login sessions and technicians' short-lived provisioning tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fleet.core import errors, security
from fleet.models import Business, User, UserSession, utcnow

ROLES = ("admin", "operator", "manager", "viewer")


def create_user(db: Session, username: str, password: str, role: str,
                business_id: str | None = None, language: str = "vi") -> User:
    if role not in ROLES:
        raise errors.BadRequest(f"unknown role {role!r}", code="BAD_ROLE")
    if role == "manager":
        if not business_id or db.get(Business, business_id) is None:
            raise errors.BadRequest("a business manager needs an existing business_id",
                                    code="BAD_BUSINESS")
    elif business_id:
        raise errors.BadRequest("only business managers belong to a business", code="BAD_BUSINESS")
    if len(password) < 10:
        raise errors.BadRequest("password must be at least 10 characters", code="WEAK_PASSWORD")
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise errors.Conflict(f"user {username!r} exists", code="USER_EXISTS")
    user = User(username=username, password_hash=security.hash_password(password), role=role,
                business_id=business_id, language=language)
    db.add(user)
    db.flush()
    return user


def ensure_admin(db: Session, username: str, password: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        user = create_user(db, username, password, "admin")
    return user


def authenticate(db: Session, username: str, password: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    # Hash even for unknown users so timing does not reveal which usernames exist.
    ok = security.verify_password(user.password_hash if user else security.dummy_hash(), password)
    if user is None or not ok or not user.active:
        raise errors.NotAuthenticated("wrong username or password / sai tên đăng nhập hoặc mật khẩu",
                                      code="BAD_CREDENTIALS")
    return user




def open_session(db: Session, user: User, ttl_s: int, kind: str = "session",
                 site_id: int | None = None) -> tuple[str, UserSession]:
    token = security.new_token()
    row = UserSession(token_hash=security.token_hash(token), kind=kind, user_id=user.id,
                      site_id=site_id, expires_at=utcnow() + dt.timedelta(seconds=ttl_s))
    db.add(row)
    db.flush()
    return token, row


def resolve(db: Session, token: str, kind: str = "session") -> tuple[User, UserSession]:
    row = db.scalar(select(UserSession).where(UserSession.token_hash == security.token_hash(token)))
    if row is None or row.kind != kind or row.expires_at <= utcnow():
        raise errors.NotAuthenticated("session expired / phiên đã hết hạn", code="BAD_TOKEN")
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        raise errors.NotAuthenticated("user disabled / tài khoản bị khoá", code="BAD_TOKEN")
    return user, row


def close_session(db: Session, token: str) -> None:
    db.execute(delete(UserSession).where(UserSession.token_hash == security.token_hash(token)))


def purge_expired(db: Session) -> int:
    return db.execute(delete(UserSession).where(UserSession.expires_at <= utcnow())).rowcount
