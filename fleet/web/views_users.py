"""User management (admins only) and every user's own account page.

Every change goes through fleet.services.users (the same rules and audit
records as the JSON API: roles and businesses, password strength, no
self-deactivation or self-demotion, never the last active admin)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, or_, select

from fleet.api.deps import client_address
from fleet.api.routes import users as users_api
from fleet.api.schemas import UserIn, UserPatch
from fleet.core import errors
from fleet.models import AuditLog, Business, User, UserSession, utcnow
from fleet.services import throttle, users

from .context import ALL_ROLES, Ctx, action, field_int, field_str, page, render
from .queries import PER_PAGE, like_escape
from .views_manage import build

router = APIRouter()
ADMIN = ("admin",)
SESSION_ACTIONS = ("user.login", "user.logout")


def _businesses(ctx: Ctx) -> list[tuple[str, str]]:
    """(id, name) for the business picker of the forms."""
    return list(ctx.db.execute(select(Business.id, Business.name).order_by(Business.id).limit(2000)))


def _filters(request: Request) -> dict:
    p = request.query_params
    return {"role": p.get("role") if p.get("role") in users.ROLES else "",
            "active": p.get("active") if p.get("active") in ("1", "0") else "",
            "q": (p.get("q") or "").strip()[:64]}


@router.get("/users")
def users_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = _filters(request)
        conds = []
        if f["role"]:
            conds.append(User.role == f["role"])
        if f["active"]:
            conds.append(User.active.is_(f["active"] == "1"))
        if f["q"]:
            esc = like_escape(f["q"])
            conds.append(or_(User.username.like("%" + esc + "%", escape="\\"),
                             User.business_id.like(esc + "%", escape="\\")))
        total = ctx.db.scalar(select(func.count()).select_from(User).where(*conds)) or 0
        pages = max(1, -(-total // PER_PAGE))
        try:
            page_no = min(max(1, int(request.query_params.get("page", 1))), pages)
        except ValueError:
            page_no = 1
        rows = list(ctx.db.scalars(select(User).where(*conds).order_by(User.username)
                                   .offset((page_no - 1) * PER_PAGE).limit(PER_PAGE)))
        query = lambda n: "?" + urlencode({k: v for k, v in  # noqa: E731
                                           {**f, "page": n}.items() if v})
        return render(ctx, "users.html", rows=rows, total=total, page_no=page_no, pages=pages,
                      page_query=query, filters=f, roles=users.ROLES,
                      businesses=_businesses(ctx))
    return page(request, ADMIN, view)


@router.post("/users")
async def user_create(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        password = form.get("password") or ""
        users.check_password(password)  # a clear message rather than "invalid field"
        role = form.get("role") or ""
        # The business field counts only for a manager, as on the change form.
        business = (form.get("business_id") or "").strip() if role == "manager" else ""
        body = build(UserIn, {
            "username": field_str(form, "username", 64), "password": password, "role": role,
            "business_id": business or None, "language": form.get("language") or "vi"})
        user = users_api.create_user(body, ctx.user, ctx.db)
        return f"/ui/users/{user.id}?ok=user.created"
    return await action(request, ADMIN, do)


@router.get("/users/{user_id}")
def user_detail(request: Request, user_id: int) -> Response:
    def view(ctx: Ctx) -> Response:
        u = users.get_user(ctx.db, user_id)
        trail = list(ctx.db.scalars(select(AuditLog).where(
            AuditLog.target_type == "user", AuditLog.target_id == str(u.id),
            AuditLog.action.not_in(SESSION_ACTIONS)).order_by(AuditLog.id.desc()).limit(100)))
        last_login = ctx.db.scalar(select(func.max(AuditLog.at)).where(
            AuditLog.target_type == "user", AuditLog.target_id == str(u.id),
            AuditLog.action == "user.login"))
        open_sessions = dict(ctx.db.execute(
            select(UserSession.kind, func.count()).where(
                UserSession.user_id == u.id, UserSession.expires_at > utcnow())
            .group_by(UserSession.kind)).all())
        return render(ctx, "user.html", u=u, trail=trail, last_login=last_login,
                      open_sessions=open_sessions, roles=users.ROLES,
                      businesses=_businesses(ctx), is_self=u.id == ctx.user.id)
    return page(request, ADMIN, view)


def _user_action(request: Request, user_id: int, change):  # noqa: ANN001, ANN202
    """A form post on one account: `change(ctx, form)` -> (UserPatch data, flash key)."""
    def do(ctx: Ctx, form: dict) -> str:
        data, flash = change(ctx, form)
        users_api.update_user(user_id, build(UserPatch, data), ctx.user, ctx.db)
        return f"/ui/users/{user_id}?ok={flash}"
    return action(request, ADMIN, do)


@router.post("/users/{user_id}/active")
async def user_active(request: Request, user_id: int) -> Response:
    def change(ctx: Ctx, form: dict) -> tuple[dict, str]:
        on = field_int(form, "active", 0, 1) == 1
        return {"active": on}, "user.activated" if on else "user.deactivated"
    return await _user_action(request, user_id, change)


@router.post("/users/{user_id}/password")
async def user_password(request: Request, user_id: int) -> Response:
    def change(ctx: Ctx, form: dict) -> tuple[dict, str]:
        password = form.get("password") or ""
        users.check_password(password)
        return {"password": password}, "user.password_reset"
    return await _user_action(request, user_id, change)


@router.post("/users/{user_id}/update")
async def user_update(request: Request, user_id: int) -> Response:
    """Role, business and language. The business field counts only for a
    manager (another role drops its business)."""
    def change(ctx: Ctx, form: dict) -> tuple[dict, str]:
        data = {}
        if form.get("role"):
            data["role"] = form["role"]
            if form["role"] == "manager":
                data["business_id"] = (form.get("business_id") or "").strip() or None
        if form.get("language"):
            data["language"] = form["language"]
        return data, "user.updated"
    return await _user_action(request, user_id, change)


# -- one's own account ----------------------------------------------------------------

@router.get("/account")
def account_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        return render(ctx, "account.html")
    return page(request, ALL_ROLES, view)


@router.post("/account/password")
async def account_password(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        current = form.get("current_password") or ""  # passwords are never stripped
        new = form.get("new_password") or ""
        if not current or len(current) > 256 or len(new) > 256:
            raise errors.BadRequest("password: required, at most 256 characters / "
                                    "mật khẩu: bắt buộc, tối đa 256 ký tự", code="BAD_FORM")
        if new != form.get("new_password2"):
            raise errors.BadRequest("the new passwords do not match / mật khẩu mới không khớp",
                                    code="PASSWORD_MISMATCH")
        throttle.change_password(ctx.db, ctx.settings, ctx.user, current, new,
                                 client_address(request),
                                 keep_token=ctx.token)
        return "/ui/account?ok=user.password_changed"
    return await action(request, ALL_ROLES, do)
