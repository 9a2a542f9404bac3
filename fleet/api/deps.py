"""Request dependencies as `Annotated` aliases (FastAPI full-stack template style).

Auth: `Authorization: Bearer <token>` (scripts, CLI) or the `gg_session` cookie
(browser). Cookie-authenticated unsafe requests must carry the CSRF token in
`X-CSRF-Token`: a bearer token cannot be sent by another site, a cookie can.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from fleet.core import errors, security
from fleet.core.config import Settings
from fleet.models import User
from fleet.services import users

SESSION_COOKIE = "gg_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_settings)]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _trusted(addr: str, nets: tuple[_Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_address(request: Request) -> str | None:
    """The client's address for the log-in throttle and logs. X-Forwarded-For
    is believed only when the peer is one of `trusted_proxies`: then the
    rightmost address that is not itself a trusted proxy is the client (the
    leftmost ones are whatever the client wrote). The server runs with
    uvicorn's own proxy handling off (UVICORN_OPTIONS in fleet.api.main)."""
    peer = request.client.host if request.client else None
    proxies = request.app.state.settings.trusted_proxies
    if peer is None or not proxies:
        return peer
    nets = _networks(tuple(proxies))
    if not _trusted(peer, nets):
        return peer
    hops = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
    addr = peer
    for hop in reversed([h.strip() for h in hops if h.strip()]):
        try:
            addr = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # not an address: keep the last good hop
        if not _trusted(addr, nets):
            break
    return addr
# scope="function": commit before the response is sent, so a client that
# uses what it was just given (a login token) never races the commit
SessionDep = Annotated[Session, Depends(get_db, scope="function")]


def _token(request: Request) -> tuple[str | None, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie, cookie is not None


def request_token(request: Request) -> str | None:
    """The session token this request authenticated with (bearer or cookie)."""
    return _token(request)[0]


def get_current_user(request: Request, db: SessionDep, settings: SettingsDep) -> User:
    token, from_cookie = _token(request)
    if not token:
        raise errors.NotAuthenticated("log in first / vui lòng đăng nhập")
    user, _ = users.resolve(db, token)
    if from_cookie and request.method not in SAFE_METHODS:
        presented = request.headers.get("x-csrf-token")
        if not security.csrf_ok(settings.secret_key, token, presented):
            raise errors.CsrfError("missing or wrong CSRF token / mã CSRF không hợp lệ")
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def RequireRole(*roles: str):  # noqa: N802 (reads like a type in signatures)
    """`user: Annotated[User, RequireRole("admin", "operator")]`"""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise errors.Forbidden(f"role {user.role} may not do this / vai trò không được phép",
                                   code="ROLE")
        return user

    return Depends(check)


Operator = Annotated[User, RequireRole("admin", "operator")]
Admin = Annotated[User, RequireRole("admin")]
# Managers act on their own business only: routes call check_business().
Manager = Annotated[User, RequireRole("admin", "operator", "manager")]


def check_business(user: User, business_id: str | None) -> None:
    """A business manager sees and manages only its own business."""
    if user.role == "manager" and business_id != user.business_id:
        raise errors.Forbidden("not your business / không phải doanh nghiệp của bạn",
                               code="BUSINESS_SCOPE")


def business_scope(user: User) -> str | None:
    return user.business_id if user.role == "manager" else None
