from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fleet.api.deps import SESSION_COOKIE, CurrentUser, client_address, SessionDep, SettingsDep, request_token
from fleet.api.schemas import LoginIn, LoginOut, PasswordChangeIn, PasswordChangeOut, UserOut
from fleet.core import security
from fleet.services import audit, throttle, users

router = APIRouter(tags=["login"])


@router.post("/login", response_model=LoginOut, summary="Log in: session token + CSRF token")
def login(body: LoginIn, request: Request, db: SessionDep, settings: SettingsDep,
          response: Response) -> LoginOut:
    user = throttle.login(db, settings, body.username, body.password,
                          client_address(request))
    token, row = users.open_session(db, user, settings.session_ttl_s)
    audit.record(db, user.username, "user.login", "user", user.id)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=not settings.demo, max_age=settings.session_ttl_s)
    return LoginOut(token=token, csrf_token=security.csrf_token(settings.secret_key, token),
                    role=user.role, business_id=user.business_id, expires_at=row.expires_at)


@router.post("/logout", status_code=204, summary="End this session")
def logout(request: Request, user: CurrentUser, db: SessionDep, response: Response) -> Response:
    users.close_session(db, request_token(request) or "")
    audit.record(db, user.username, "user.logout", "user", user.id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/me/password", response_model=PasswordChangeOut,
             summary="Change my own password (needs the current one; ends my other sessions)")
def change_my_password(body: PasswordChangeIn, request: Request, user: CurrentUser,
                       db: SessionDep, settings: SettingsDep) -> PasswordChangeOut:
    # A wrong current password counts against the log-in throttle (429 when locked).
    ended = throttle.change_password(db, settings, user, body.current_password, body.new_password,
                                     client_address(request),
                                     keep_token=request_token(request))
    return PasswordChangeOut(sessions_ended=ended)
