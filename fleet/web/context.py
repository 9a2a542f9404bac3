"""Request plumbing shared by every dashboard page: who is logged in (the
`gg_session` cookie of fleet's users service), the language, CSRF tokens,
role checks, and turning fleet errors into HTML pages instead of JSON.

Pages are sync functions (run in FastAPI's threadpool) that get a `Ctx`;
form posts are parsed asynchronously, then run their action in the threadpool.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fleet.api.deps import SAFE_METHODS, SESSION_COOKIE
from fleet.core import errors, security
from fleet.core.config import Settings
from fleet.models import User
from fleet.services import users

from . import i18n, localtime

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["reason_text"] = i18n.reason_text
templates.env.globals["reason_name"] = i18n.reason_name
templates.env.filters["local"] = localtime.fmt
templates.env.filters["local_iso"] = localtime.iso
templates.env.filters["signed_s"] = localtime.signed_seconds

PRELOGIN_COOKIE = "gg_prelogin"
ALL_ROLES = ("admin", "operator", "manager", "viewer")
DISTRICT = ("admin", "operator")          # may change anything district-wide
EDITORS = ("admin", "operator", "manager")  # managers: their own business only
READERS_DISTRICT = ("admin", "operator", "viewer")  # district-wide read

# Which navigation entries each role sees (every page also checks server-side).
NAV = (
    ("overview", "/ui/", ALL_ROLES),
    ("map", "/ui/map", ALL_ROLES),
    ("feed", "/ui/feed", ALL_ROLES),
    ("scans", "/ui/scans", ALL_ROLES),
    ("charts", "/ui/charts", ALL_ROLES),
    ("alerts", "/ui/alerts", ALL_ROLES),
    ("businesses", "/ui/businesses", ALL_ROLES),
    ("passes", "/ui/passes", ALL_ROLES),
    ("revocations", "/ui/revocations", READERS_DISTRICT),
    ("dcc", "/ui/dcc", READERS_DISTRICT),
    ("f0", "/ui/f0", DISTRICT),
    ("audit", "/ui/audit", READERS_DISTRICT),
    ("firmware", "/ui/firmware", READERS_DISTRICT),
    ("users", "/ui/users", ("admin",)),
)
FLASH_KEYS = {"done", "dev.queued", "rev.done", "rev.lifted_done", "user.created", "user.activated",
              "user.deactivated", "user.password_reset", "user.updated", "user.password_changed"}


# <title> of each page: "<page> – GreenGate" (tabs and history stay apart).
TITLES = {"overview.html": "nav.overview", "feed.html": "feed.title", "charts.html": "an.title",
          "scans.html": "scans.title", "audit.html": "audit.title",
          "alerts.html": "alerts.title", "businesses.html": "biz.title",
          "passes.html": "passes.title", "pass_issued.html": "passes.issue",
          "revocations.html": "rev.title", "f0.html": "f0.title", "users.html": "users.title",
          "account.html": "account.title", "login.html": "login.title", "map.html": "map.title"}
DETAIL_TITLES = {
    "business.html": lambda t, v: f"{v['b'].name} ({v['b'].id})",
    "device.html": lambda t, v: f"{t('device')} {v['d'].id}",
    "f0_case.html": lambda t, v: f"{t('f0.case')} {v['c'].id}",
    "user.html": lambda t, v: f"{t('nav.users')}: {v['u'].username}",
    "error.html": lambda t, v: f"{t('error')} {v['http_status']}",
}


def page_title(t: Callable[..., str], template: str, values: dict) -> str:
    if template in DETAIL_TITLES:
        return DETAIL_TITLES[template](t, values)
    return t(TITLES.get(template, "app"))


class LoginRequired(Exception):
    pass


@dataclass
class Ctx:
    request: Request
    db: Session
    settings: Settings
    lang: str
    user: User | None = None
    token: str | None = None
    extra_cookies: dict = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return security.csrf_token(self.settings.secret_key, self.token) if self.token else ""

    @property
    def scope(self) -> str | None:
        """A business manager's business; None = district-wide."""
        return self.user.business_id if self.user and self.user.role == "manager" else None

    @property
    def can_edit(self) -> bool:
        return bool(self.user) and self.user.role in EDITORS

    @property
    def is_district(self) -> bool:
        return bool(self.user) and self.user.role in DISTRICT

    def require(self, roles: tuple[str, ...]) -> None:
        if self.user is None:
            raise LoginRequired()
        if self.user.role not in roles:
            raise errors.Forbidden("role may not open this page", code="ROLE")

    def check_business(self, business_id: str | None) -> None:
        """Business managers see and manage only their own business."""
        if self.scope is not None and business_id != self.scope:
            raise errors.Forbidden("not your business", code="BUSINESS_SCOPE")

    def t(self, key: str, *args: object) -> str:
        return i18n.t(self.lang, key, *args)

    @property
    def tz(self):  # noqa: ANN201
        return localtime.zone(self.settings.timezone)


def _lang(request: Request) -> tuple[str, bool]:
    """(language, chosen_now): ?lang= wins and is remembered in a cookie."""
    chosen = i18n.pick_lang(request.query_params.get("lang"))
    if chosen:
        return chosen, True
    return i18n.pick_lang(request.cookies.get(i18n.LANG_COOKIE)) or i18n.DEFAULT_LANG, False


def _resolve_user(request: Request, db: Session) -> tuple[User | None, str | None]:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None, None
    try:
        user, _ = users.resolve(db, token)
    except errors.NotAuthenticated:
        return None, None
    return user, token


def lang_url(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = lang
    return request.url.path + "?" + urlencode(params)


def render(ctx: Ctx, template: str, http_status: int = 200, **values: object) -> HTMLResponse:
    req = ctx.request
    flash = req.query_params.get("ok")
    values = {
        "request": req, "ctx": ctx, "t": ctx.t, "lang": ctx.lang, "user": ctx.user,
        "csrf": ctx.csrf, "nav": [(k, url) for k, url, roles in NAV
                                  if ctx.user and ctx.user.role in roles],
        "other_lang": "en" if ctx.lang == "vi" else "vi",
        "lang_url": lang_url(req, "en" if ctx.lang == "vi" else "vi"),
        "flash": ctx.t(flash) if flash in FLASH_KEYS else None,
        "path": req.url.path,
        "tz": ctx.tz, "tz_label": localtime.zone_label(ctx.tz),
        **values,
    }
    values["page_title"] = page_title(ctx.t, template, {**values, "http_status": http_status})
    resp = templates.TemplateResponse(req, template, values, status_code=http_status)
    _finish(ctx, resp)
    return resp


def _finish(ctx: Ctx, resp: Response) -> None:
    chosen = i18n.pick_lang(ctx.request.query_params.get("lang"))
    if chosen:
        resp.set_cookie(i18n.LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax",
                        httponly=True)
    for name, (value, kw) in ctx.extra_cookies.items():
        if value is None:
            resp.delete_cookie(name)
        else:
            resp.set_cookie(name, value, **kw)
    # Pages carry personal-ish operational data: never cache them.
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")


def error_page(ctx: Ctx, exc: errors.FleetError) -> HTMLResponse:
    if isinstance(exc, errors.CsrfError):
        message = ctx.t("error.csrf")
    elif exc.status == 403:
        message = ctx.t("error.forbidden")
    elif exc.status == 404:
        key = "error." + exc.code
        message = ctx.t(key, exc.extra.get("subject", "")) if key in i18n.TEXTS \
            else ctx.t("error.not_found")
    elif isinstance(exc, errors.TooManyAttempts):
        message = ctx.t("error.TOO_MANY_ATTEMPTS", int(exc.extra.get("retry_after_s", 60)))
    elif "error." + exc.code in i18n.TEXTS:  # a text in the page's language
        message = ctx.t("error." + exc.code)
    else:
        message = exc.message  # fleet messages carry Vietnamese and English
    resp = render(ctx, "error.html", http_status=exc.status, code=exc.code, message=message)
    if "retry_after_s" in exc.extra:
        resp.headers["Retry-After"] = str(exc.extra["retry_after_s"])
    return resp


def not_found_page(request: Request) -> Response:
    """An HTML 404 for any unknown /ui/ address (logged in or not: it says
    nothing about what exists)."""
    lang, _ = _lang(request)
    with request.app.state.sessions() as db:
        ctx = Ctx(request, db, request.app.state.settings, lang)
        ctx.user, ctx.token = _resolve_user(request, db)
        return error_page(ctx, errors.NotFound("no such page", code="NO_PAGE"))


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    nxt = target if request.method in SAFE_METHODS else "/ui/"
    return RedirectResponse("/ui/login?" + urlencode({"next": nxt}), status_code=303)


def page(request: Request, roles: tuple[str, ...],
         view: Callable[[Ctx], Response]) -> Response:
    """Run a GET page: open a DB session, resolve the user, check the role."""
    lang, _ = _lang(request)
    settings: Settings = request.app.state.settings
    with request.app.state.sessions() as db:
        ctx = Ctx(request, db, settings, lang)
        ctx.user, ctx.token = _resolve_user(request, db)
        if ctx.user is not None and not i18n.pick_lang(request.cookies.get(i18n.LANG_COOKIE)) \
                and not request.query_params.get("lang"):
            ctx.lang = i18n.pick_lang(ctx.user.language) or ctx.lang
        try:
            ctx.require(roles)
            resp = view(ctx)
            db.commit()
            return resp
        except LoginRequired:
            return _login_redirect(request)
        except errors.FleetError as exc:
            db.rollback()
            return error_page(ctx, exc)


async def action(request: Request, roles: tuple[str, ...],
                 do: Callable[[Ctx, dict], Response | str]) -> Response:
    """Run a form post: CSRF token (form field `csrf_token` or header
    `X-CSRF-Token`) must match the session; `do` returns a redirect target or
    a response. Errors roll the transaction back and render an error page."""
    form = dict(await request.form())
    form = {k: v for k, v in form.items() if isinstance(v, str)}  # no uploads here

    def run() -> Response:
        lang, _ = _lang(request)
        settings: Settings = request.app.state.settings
        with request.app.state.sessions() as db:
            ctx = Ctx(request, db, settings, lang)
            ctx.user, ctx.token = _resolve_user(request, db)
            try:
                ctx.require(roles)
                presented = form.get("csrf_token") or request.headers.get("x-csrf-token")
                if not security.csrf_ok(settings.secret_key, ctx.token, presented):
                    raise errors.CsrfError("missing or wrong CSRF token")
                result = do(ctx, form)
                db.commit()
            except LoginRequired:
                return _login_redirect(request)
            except errors.FleetError as exc:
                db.rollback()
                return error_page(ctx, exc)
            if isinstance(result, str):
                result = RedirectResponse(result, status_code=303)
            _finish(ctx, result)
            return result

    return await run_in_threadpool(run)


# -- form field helpers (bad input is a 400 page, never a crash) ---------------

def field_str(form: dict, name: str, max_len: int = 300, required: bool = True) -> str:
    value = (form.get(name) or "").strip()
    if required and not value:
        raise errors.BadRequest(f"{name}: required / bắt buộc", code="BAD_FORM")
    if len(value) > max_len:
        raise errors.BadRequest(f"{name}: too long / quá dài", code="BAD_FORM")
    return value


def field_int(form: dict, name: str, lo: int, hi: int, required: bool = True) -> int | None:
    raw = (form.get(name) or "").strip()
    if not raw and not required:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadRequest(f"{name}: not a number / không phải số", code="BAD_FORM") from None
    if not lo <= value <= hi:
        raise errors.BadRequest(f"{name}: {lo}..{hi}", code="BAD_FORM")
    return value


def field_bool(form: dict, name: str) -> bool:
    return form.get(name) in ("1", "on", "true", "yes")


def new_prelogin() -> str:
    return secrets.token_urlsafe(24)


def prelogin_csrf(settings: Settings, value: str) -> str:
    return security.csrf_token(settings.secret_key, "prelogin:" + value)
