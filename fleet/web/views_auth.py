"""Log in / log out with fleet's users service (Argon2id hashes, opaque
session tokens stored hashed). The login form itself carries a CSRF token
bound to a pre-login cookie, so another site cannot log a browser in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from fleet.api.deps import SESSION_COOKIE, client_address
from fleet.core import errors, security
from fleet.services import audit, throttle, users

from .context import (PRELOGIN_COOKIE, Ctx, _lang, _resolve_user, action, new_prelogin,
                      prelogin_csrf, render)

router = APIRouter()


def _safe_next(value: str | None) -> str:
    # Only our own pages: no open redirect to another site ("//evil", "https:").
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"


def _login_form(ctx: Ctx, status: int = 200, failed: bool = False,
                throttled: int = 0) -> Response:
    value = ctx.request.cookies.get(PRELOGIN_COOKIE) or new_prelogin()
    ctx.extra_cookies[PRELOGIN_COOKIE] = (value, {"httponly": True, "samesite": "strict",
                                                  "secure": not ctx.settings.demo, "max_age": 3600})
    resp = render(ctx, "login.html", http_status=status, failed=failed, throttled=throttled,
                  login_csrf=prelogin_csrf(ctx.settings, value),
                  next=_safe_next(ctx.request.query_params.get("next")))
    if throttled:
        resp.headers["Retry-After"] = str(throttled)
    return resp


@router.get("/login")
def login_page(request: Request) -> Response:
    lang, _ = _lang(request)
    with request.app.state.sessions() as db:
        ctx = Ctx(request, db, request.app.state.settings, lang)
        ctx.user, ctx.token = _resolve_user(request, db)
        if ctx.user is not None:
            return RedirectResponse("/ui/", status_code=303)
        return _login_form(ctx)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}

    def run() -> Response:
        lang, _ = _lang(request)
        settings = request.app.state.settings
        with request.app.state.sessions() as db:
            ctx = Ctx(request, db, settings, lang)
            pre = request.cookies.get(PRELOGIN_COOKIE)
            if not pre or not security.csrf_ok(settings.secret_key, "prelogin:" + pre,
                                               form.get("csrf_token")):
                return render(ctx, "error.html", http_status=403, code="CSRF",
                              message=ctx.t("error.csrf"))
            username = (form.get("username") or "")[:64]
            password = (form.get("password") or "")[:256]
            try:
                user = throttle.login(db, settings, username, password, client_address(request))
            except errors.TooManyAttempts as e:
                return _login_form(ctx, status=429, throttled=e.extra["retry_after_s"])
            except errors.NotAuthenticated:
                return _login_form(ctx, status=401, failed=True)
            token, _ = users.open_session(db, user, settings.session_ttl_s)
            audit.record(db, user.username, "user.login", "user", user.id, via="dashboard")
            db.commit()
            resp = RedirectResponse(_safe_next(form.get("next")), status_code=303)
            resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                            secure=not settings.demo, max_age=settings.session_ttl_s)
            resp.delete_cookie(PRELOGIN_COOKIE)
            return resp

    return await run_in_threadpool(run)


@router.post("/logout")
async def logout(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> Response:
        users.close_session(ctx.db, ctx.token or "")
        audit.record(ctx.db, ctx.user.username, "user.logout", "user", ctx.user.id, via="dashboard")
        ctx.extra_cookies[SESSION_COOKIE] = (None, {})
        return RedirectResponse("/ui/login", status_code=303)

    return await action(request, ("admin", "operator", "manager", "viewer"), do)
