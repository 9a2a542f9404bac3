"""Log-in throttle against password guessing.

After `login_user_failures` failed log-ins for one username, or
`login_ip_failures` from one client address, within `login_window_s`, every
further attempt for that key is refused for `login_lockout_s`, right password
or not (429 TOO_MANY_ATTEMPTS with Retry-After). A successful log-in clears
its username's count. A wrong current password when changing one's own
password (`change_password`) counts exactly like a failed log-in. Counts live in the database (table login_throttle),
so all workers share them, and a failure is committed on its own: the
request's rollback must not erase it. Behind a reverse proxy the client
address is the proxy's (uvicorn's --forwarded-allow-ips makes it the real
one); the per-username limit holds either way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.core.config import Settings
from fleet.models import LoginThrottle, User, utcnow

from . import users


def _keys(settings: Settings, username: str, client: str | None) -> list[tuple[str, int]]:
    out = [("user:" + username[:64], settings.login_user_failures)]
    if client:
        out.append(("ip:" + client[:64], settings.login_ip_failures))
    return out


def check(db: Session, settings: Settings, username: str, client: str | None,
          now: dt.datetime | None = None) -> None:
    """Raise TooManyAttempts while any of the attempt's keys is locked."""
    now = now or utcnow()
    for key, _ in _keys(settings, username, client):
        row = db.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            wait = max(1, int((row.locked_until - now).total_seconds() + 0.999))
            minutes = (wait + 59) // 60
            raise errors.TooManyAttempts(
                f"too many failed log-ins, try again in {minutes} min / "
                f"đăng nhập sai quá nhiều lần, thử lại sau {minutes} phút",
                retry_after_s=wait)


def record_failure(db: Session, settings: Settings, username: str, client: str | None,
                   now: dt.datetime | None = None) -> None:
    """Count one failure on each key (a new window when the old one ended)."""
    now = now or utcnow()
    window = dt.timedelta(seconds=settings.login_window_s)
    for key, limit in _keys(settings, username, client):
        for attempt in range(2):  # a concurrent first insert of the same key: retry as update
            try:
                with db.begin_nested():
                    row = db.scalar(select(LoginThrottle).where(LoginThrottle.key == key)
                                    .with_for_update())
                    if row is None:
                        row = LoginThrottle(key=key, failures=0, window_start=now)
                        db.add(row)
                    elif row.window_start + window <= now:
                        row.failures, row.window_start, row.locked_until = 0, now, None
                    row.failures += 1
                    if row.failures >= limit:
                        row.locked_until = now + dt.timedelta(seconds=settings.login_lockout_s)
                break
            except IntegrityError:
                if attempt:
                    raise


def clear(db: Session, username: str) -> None:
    row = db.get(LoginThrottle, "user:" + username[:64])
    if row is not None:
        db.delete(row)


def login(db: Session, settings: Settings, username: str, password: str,
          client: str | None) -> User:
    """users.authenticate behind the throttle. A failure is committed before
    NotAuthenticated propagates."""
    check(db, settings, username, client)
    try:
        user = users.authenticate(db, username, password)
    except errors.NotAuthenticated:
        record_failure(db, settings, username, client)
        db.commit()
        raise
    clear(db, username)
    return user


def change_password(db: Session, settings: Settings, user: User, current: str, new: str,
                    client: str | None, keep_token: str | None = None) -> int:
    """users.change_own_password behind the same throttle: a wrong current
    password counts as a failed log-in of that username (committed before
    WRONG_PASSWORD propagates), so a stolen session cannot guess it faster
    than the log-in form allows."""
    check(db, settings, user.username, client)
    try:
        ended = users.change_own_password(db, user, current, new, keep_token)
    except errors.BadRequest as exc:
        if exc.code == "WRONG_PASSWORD":
            record_failure(db, settings, user.username, client)
            db.commit()
        raise
    clear(db, user.username)
    return ended
