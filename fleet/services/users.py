"""Users, login sessions and technicians' short-lived provisioning tokens.

Account changes (`update_user`, `change_own_password`) keep these rules:
a manager belongs to an existing business and nobody else belongs to one; a
password has at least MIN_PASSWORD characters; an admin cannot deactivate or
demote themself, nor reset their own password without the current one (they
use change_own_password); the last active admin can never be deactivated or
demoted.
Deactivating ends every session and technician token of the account at once,
a password reset ends them too, a role change ends its technician tokens
(they are checked against the role only when issued). Every change is
audited; passwords never reach the audit log.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fleet.core import errors, security
from fleet.models import Business, User, UserSession, utcnow

from . import audit

ROLES = ("admin", "operator", "manager", "viewer")
LANGUAGES = ("vi", "en")
MIN_PASSWORD = 10
UNSET = object()  # "not given" for business_id, where None means "no business"


def check_role(db: Session, role: str, business_id: str | None) -> None:
    """A manager needs an existing business; every other role has none."""
    if role not in ROLES:
        raise errors.BadRequest(f"unknown role {role!r} / vai trò không hợp lệ", code="BAD_ROLE")
    if role == "manager":
        if not business_id or db.get(Business, business_id) is None:
            raise errors.BadRequest("a business manager needs an existing business_id / "
                                    "quản lý doanh nghiệp cần mã doanh nghiệp có thật",
                                    code="BAD_BUSINESS")
    elif business_id:
        raise errors.BadRequest("only business managers belong to a business / "
                                "chỉ quản lý doanh nghiệp mới thuộc một doanh nghiệp",
                                code="BAD_BUSINESS")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise errors.BadRequest(f"password must be at least {MIN_PASSWORD} characters / "
                                f"mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự",
                                code="WEAK_PASSWORD")


def check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise errors.BadRequest("language must be vi or en / ngôn ngữ phải là vi hoặc en",
                                code="BAD_LANGUAGE")


def create_user(db: Session, username: str, password: str, role: str,
                business_id: str | None = None, language: str = "vi") -> User:
    check_role(db, role, business_id)
    check_password(password)
    check_language(language)
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise errors.Conflict(f"user {username!r} exists / tên đăng nhập đã tồn tại",
                              code="USER_EXISTS")
    user = User(username=username, password_hash=security.hash_password(password), role=role,
                business_id=business_id, language=language)
    db.add(user)
    db.flush()
    return user


def get_user(db: Session, user_id: int) -> User:
    # Out-of-range ids are unknown too (PostgreSQL would refuse them as integer).
    user = db.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise errors.NotFound(f"user {user_id} not found / không tìm thấy người dùng")
    return user


def end_sessions(db: Session, user: User, kinds: tuple[str, ...] = ("session", "technician"),
                 keep_token: str | None = None) -> int:
    """Delete the account's sessions and/or technician tokens; returns how many."""
    q = delete(UserSession).where(UserSession.user_id == user.id, UserSession.kind.in_(kinds))
    if keep_token:
        q = q.where(UserSession.token_hash != security.token_hash(keep_token))
    return db.execute(q).rowcount or 0


def _other_active_admins(db: Session, user: User) -> int:
    """Active admins besides `user`, counted under a lock so that two admins
    demoting each other at once cannot both succeed: the second waits for the
    first, then counts what it committed. The lock is a no-op UPDATE of the
    admin rows: row locks on PostgreSQL (rows that stopped matching are
    skipped after the wait), and on SQLite, whose driver reads outside the
    transaction until its first write, the database write lock."""
    ids = db.scalars(update(User).where(User.role == "admin", User.active.is_(True))
                     .values(active=True).returning(User.id)
                     .execution_options(synchronize_session=False)).all()
    return sum(1 for i in ids if i != user.id)


def update_user(db: Session, actor: str, user: User, *, actor_id: int | None = None,
                active: bool | None = None, password: str | None = None,
                role: str | None = None, business_id: object = UNSET,
                language: str | None = None) -> list[str]:
    """Apply an admin's changes to `user` (None / UNSET = leave as is); returns
    the changed fields. `actor_id` is the acting account (None from the CLI).
    When the role changes and no business_id is given, a manager keeps its
    business and any other role drops it."""
    new_role = role if role is not None else user.role
    if business_id is UNSET:
        business_id = user.business_id if new_role == "manager" else None
    if new_role != user.role or business_id != user.business_id:
        check_role(db, new_role, business_id)
    if password is not None:
        check_password(password)
    if language is not None:
        check_language(language)

    deactivating = active is False and user.active
    demoting = user.role == "admin" and new_role != "admin"
    if actor_id is not None and actor_id == user.id:
        if deactivating:
            raise errors.Conflict("you cannot deactivate your own account / "
                                  "không thể tự khoá tài khoản của mình", code="SELF_DEACTIVATE")
        if demoting:
            raise errors.Conflict("you cannot change your own admin role / "
                                  "không thể tự bỏ quyền quản trị của mình", code="SELF_DEMOTE")
        if password is not None:
            raise errors.Conflict("change your own password with your current one (/me/password) / "
                                  "hãy đổi mật khẩu của mình bằng mật khẩu hiện tại",
                                  code="SELF_PASSWORD")
    if (deactivating or demoting) and user.active and user.role == "admin" \
            and _other_active_admins(db, user) == 0:
        raise errors.Conflict("the last active admin cannot be deactivated or demoted / "
                              "không thể khoá hoặc hạ quyền quản trị viên cuối cùng",
                              code="LAST_ADMIN")

    changed = []
    if active is not None and active != user.active:
        user.active = active
        changed.append("active")
        if active:
            audit.record(db, actor, "user.activate", "user", user.id)
        else:
            ended = end_sessions(db, user)
            audit.record(db, actor, "user.deactivate", "user", user.id, sessions_ended=ended)
    if new_role != user.role or business_id != user.business_id:
        before = {"role": user.role, "business_id": user.business_id}
        role_changed = new_role != user.role
        if role_changed:
            changed.append("role")
        if business_id != user.business_id:
            changed.append("business_id")
        user.role, user.business_id = new_role, business_id
        # Technician tokens were issued for the old role; resolve() does not re-check it.
        ended = end_sessions(db, user, ("technician",)) if role_changed else 0
        audit.record(db, actor, "user.role", "user", user.id, before=before,
                     after={"role": new_role, "business_id": business_id}, tokens_ended=ended)
    if language is not None and language != user.language:
        audit.record(db, actor, "user.language", "user", user.id, before=user.language,
                     after=language)
        user.language = language
        changed.append("language")
    if password is not None:
        user.password_hash = security.hash_password(password)
        ended = end_sessions(db, user)
        audit.record(db, actor, "user.password_reset", "user", user.id, sessions_ended=ended)
        changed.append("password")
    db.flush()
    return changed


def change_own_password(db: Session, user: User, current: str, new: str,
                        keep_token: str | None = None) -> int:
    """A user's own password change: the current password must be right (the
    caller counts a wrong one against the log-in throttle). Ends the user's
    other sessions and technician tokens; returns how many."""
    if not security.verify_password(user.password_hash, current):
        raise errors.BadRequest("current password is wrong / mật khẩu hiện tại không đúng",
                                code="WRONG_PASSWORD")
    check_password(new)
    if new == current:
        raise errors.BadRequest("the new password must differ from the current one / "
                                "mật khẩu mới phải khác mật khẩu hiện tại", code="SAME_PASSWORD")
    user.password_hash = security.hash_password(new)
    ended = end_sessions(db, user, keep_token=keep_token)
    audit.record(db, user.username, "user.password_change", "user", user.id, sessions_ended=ended)
    db.flush()
    return ended


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
