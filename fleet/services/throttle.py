"""Log-in throttle against password guessing.

Failures are counted per (username, client address) and per client address.
A pair has `login_user_failures` free failures, an address (over all the
usernames it tries) `login_ip_failures`; past those, the key's next attempt
waits `login_delay_base_s * 2**(failures - free)` seconds, capped at
`login_delay_max_s` (429 TOO_MANY_ATTEMPTS with Retry-After), right password
or not. A key's failures are forgotten after `login_window_s` without one.
There is no per-username lock: anonymous guesses from one address never lock
the same user (the admin) out from another address.

Atomic: an attempt is counted as a failure BEFORE its password is checked,
in its own committed transaction, with the keys' rows locked (PostgreSQL:
SELECT ... FOR UPDATE; SQLite: the INSERT that creates missing rows takes
the database's write lock until the commit). N parallel guesses are thus
serialised at the counter and at most the free ones reach the password
check. A success takes its count back (pair row deleted, address count less
one). A wrong current password when changing one's own password
(`change_password`) counts exactly like a failed log-in. Counts live in the
database (table login_throttle), so every worker shares them. The client
address comes from fleet.api.deps.client_address (X-Forwarded-For only from
`trusted_proxies`).
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.core.config import Settings
from fleet.models import LoginThrottle, User, utcnow

from . import users

_TABLE = LoginThrottle.__table__


def _keys(settings: Settings, username: str, client: str | None) -> list[tuple[str, int]]:
    """(key, free failures), sorted so that concurrent lockers take rows in one order."""
    addr = (client or "unknown")[:64]
    return sorted([("ip:" + addr, settings.login_ip_failures),
                   ("pair:" + addr + " " + username[:64], settings.login_user_failures)])


def delay_s(settings: Settings, failures: int, free: int) -> float:
    """Wait before the next attempt of a key with `failures` (0 while free)."""
    if failures < free:
        return 0.0
    return min(float(settings.login_delay_max_s),
               settings.login_delay_base_s * 2.0 ** min(failures - free, 40))


def _insert_missing(db: Session, keys: list[str]) -> None:
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.execute(insert(_TABLE).values([{"key": k, "failures": 0} for k in keys])
               .on_conflict_do_nothing(index_elements=["key"]))


def _too_many(wait_s: int) -> errors.TooManyAttempts:
    return errors.TooManyAttempts(
        f"too many failed log-ins, try again in {wait_s} s / "
        f"đăng nhập sai quá nhiều lần, thử lại sau {wait_s} giây", retry_after_s=wait_s)


def reserve(db: Session, settings: Settings, username: str, client: str | None,
            now: dt.datetime | None = None) -> None:
    """Count this attempt as a failure on each of its keys and commit, or
    raise TooManyAttempts (nothing counted) while any key must still wait."""
    now = now or utcnow()
    window = dt.timedelta(seconds=settings.login_window_s)
    keys = _keys(settings, username, client)
    _insert_missing(db, [k for k, _ in keys])
    rows = {r.key: r for r in db.scalars(
        select(LoginThrottle).where(LoginThrottle.key.in_([k for k, _ in keys]))
        .order_by(LoginThrottle.key).with_for_update()
        .execution_options(populate_existing=True))}
    wait = 0
    for key, _ in keys:
        row = rows[key]
        if row.last_failure_at is not None and now - row.last_failure_at >= window:
            row.failures, row.blocked_until = 0, None
        if row.blocked_until is not None and row.blocked_until > now:
            wait = max(wait, math.ceil((row.blocked_until - now).total_seconds()))
    if wait:
        db.commit()
        raise _too_many(wait)
    for key, free in keys:
        row = rows[key]
        row.failures += 1
        row.last_failure_at = now
        pause = delay_s(settings, row.failures, free)
        row.blocked_until = now + dt.timedelta(seconds=pause) if pause else None
    db.commit()


def forgive(db: Session, settings: Settings, username: str, client: str | None) -> None:
    """A success: the attempt reserved as a failure was none. Single
    statements, atomic without a lock."""
    for key, free in _keys(settings, username, client):
        if key.startswith("pair:"):
            db.execute(delete(_TABLE).where(_TABLE.c.key == key))
        else:
            db.execute(update(_TABLE).where(_TABLE.c.key == key, _TABLE.c.failures > 0).values(
                failures=_TABLE.c.failures - 1,
                blocked_until=case((_TABLE.c.failures - 1 < free, None),
                                   else_=_TABLE.c.blocked_until)))


def login(db: Session, settings: Settings, username: str, password: str,
          client: str | None) -> User:
    """users.authenticate behind the throttle (its failure is already counted)."""
    reserve(db, settings, username, client)
    user = users.authenticate(db, username, password)
    forgive(db, settings, username, client)
    return user


def change_password(db: Session, settings: Settings, user: User, current: str, new: str,
                    client: str | None, keep_token: str | None = None) -> int:
    """users.change_own_password behind the same throttle: a wrong current
    password counts as a failed log-in of that username, so a stolen session
    cannot guess it faster than the log-in form allows."""
    username = user.username
    reserve(db, settings, username, client)
    try:
        ended = users.change_own_password(db, user, current, new, keep_token)
    except errors.BadRequest as exc:
        if exc.code != "WRONG_PASSWORD":
            forgive(db, settings, username, client)  # not a guess (e.g. a weak new password)
            db.commit()
        raise
    forgive(db, settings, username, client)
    return ended
