"""Management pages: businesses, sites, devices, allowlists, passes and
revocations. Every change goes through fleet's services (or its API route
functions, which hold the same checks and audit records), never around them."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, select

from fleet.api.routes import allowlists as allow_api
from fleet.api.routes import businesses as biz_api
from fleet.api.routes import devices as dev_api
from fleet.api.routes import passes as pass_api
from fleet.api.routes import sites as site_api
from fleet.api.schemas import (AllowlistIn, BusinessIn, CardIn, CommandIn, DevicePatch, PassIn,
                               SiteIn, SitePatch)
from fleet.core import errors
from fleet.models import (AllowlistEntry, Business, BusinessStatus, Device, OperatingMode,
                          Revocation, Sector, Site, Zone)
from fleet.services import devices as device_svc
from fleet.services import f0, pass_status, registry, revocations, versions
from greengate.passes import issue as gi

from . import lists
from .context import (ALL_ROLES, DISTRICT, EDITORS, READERS_DISTRICT, Ctx, action, field_bool,
                      field_int, field_str, page, render)
from .queries import PER_PAGE, like_escape
from .views_lists import list_context, pass_filters
from .views_map import field_coords

router = APIRouter()


def build(model: type[BaseModel], data: dict) -> BaseModel:
    """Validate form data with fleet's API schema; bad input is a 400 page."""
    try:
        return model(**data)
    except ValidationError as e:
        fields = ", ".join(".".join(str(x) for x in err["loc"]) for err in e.errors())
        raise errors.BadRequest(f"invalid fields / dữ liệu không hợp lệ: {fields}",
                                code="BAD_FORM") from None


# -- businesses -----------------------------------------------------------------

@router.get("/businesses")
def businesses(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        conds = []
        status = request.query_params.get("status")
        if status in {s.value for s in BusinessStatus}:
            conds.append(Business.status == status)
        else:
            status = ""
        if ctx.scope is not None:
            conds.append(Business.id == ctx.scope)
        search = (request.query_params.get("q") or "").strip()[:64]
        if search:
            esc = like_escape(search)
            conds.append(or_(Business.id.like(esc + "%", escape="\\"),
                             Business.name.like("%" + esc + "%", escape="\\")))
        total = ctx.db.scalar(select(func.count()).select_from(Business).where(*conds)) or 0
        pages = max(1, -(-total // PER_PAGE))
        try:
            page_no = min(max(1, int(request.query_params.get("page", 1))), pages)
        except ValueError:
            page_no = 1
        rows = list(ctx.db.scalars(select(Business).where(*conds).order_by(Business.id)
                                   .offset((page_no - 1) * PER_PAGE).limit(PER_PAGE)))
        query = lambda n: "?" + urlencode({k: v for k, v in  # noqa: E731
                                           {"status": status, "q": search, "page": n}.items() if v})
        return render(ctx, "businesses.html", rows=rows, total=total, page_no=page_no, pages=pages,
                      page_query=query, search=search,
                      status=status, sectors=[s.value for s in Sector],
                      zones=[z.value for z in Zone], modes=[m.value for m in OperatingMode],
                      statuses=[s.value for s in BusinessStatus])
    return page(request, ALL_ROLES, view)


@router.post("/businesses")
async def business_create(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        body = build(BusinessIn, {
            "id": field_str(form, "id", 16), "name": field_str(form, "name", 200),
            "sector": form.get("sector"), "address": field_str(form, "address"),
            "ward": field_str(form, "ward", 100), "zone": form.get("zone") or "green",
            "operating_mode": form.get("operating_mode"),
            "two_doses": field_bool(form, "two_doses"), "five_k": field_bool(form, "five_k"),
            "plan_approved": field_bool(form, "plan_approved"),
            "testing_interval_days": field_int(form, "testing_interval_days", 1, 60, required=False)})
        b = biz_api.create_business(body, ctx.user, ctx.db)
        return f"/ui/businesses/{b.id}?ok=done"
    return await action(request, DISTRICT, do)


@router.get("/businesses/{business_id}")
def business_detail(request: Request, business_id: str) -> Response:
    def view(ctx: Ctx) -> Response:
        ctx.check_business(business_id)
        b = registry.get_business(ctx.db, business_id)
        sites = list(ctx.db.scalars(select(Site).where(Site.business_id == b.id).order_by(Site.id)))
        devices = list(ctx.db.scalars(select(Device).where(
            Device.site_id.in_([s.id for s in sites])).order_by(Device.id).limit(500)))
        entries = pass_status.allowlist_rows(ctx.db, b.id)
        return render(ctx, "business.html", b=b, sites=sites, devices=devices, entries=entries)
    return page(request, ALL_ROLES, view)


def _status_action(request: Request, business_id: str, verb: str):  # noqa: ANN202
    def do(ctx: Ctx, form: dict) -> str:
        if verb == "approve":
            biz_api.approve(business_id, ctx.user, ctx.db)
        elif verb == "suspend":
            b = registry.get_business(ctx.db, business_id)
            registry.set_business_status(ctx.db, b, BusinessStatus.SUSPENDED, ctx.user.username,
                                         field_str(form, "reason", 200))
        else:
            f0.reinstate(ctx.db, business_id, ctx.user.username)
        back = form.get("back") if (form.get("back") or "").startswith("/ui/") else None
        return (back or f"/ui/businesses/{business_id}") + "?ok=done"
    return action(request, DISTRICT, do)


@router.post("/businesses/{business_id}/approve")
async def business_approve(request: Request, business_id: str) -> Response:
    return await _status_action(request, business_id, "approve")


@router.post("/businesses/{business_id}/suspend")
async def business_suspend(request: Request, business_id: str) -> Response:
    return await _status_action(request, business_id, "suspend")


@router.post("/businesses/{business_id}/reinstate")
async def business_reinstate(request: Request, business_id: str) -> Response:
    return await _status_action(request, business_id, "reinstate")


# -- sites ----------------------------------------------------------------------

@router.post("/sites")
async def site_create(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        body = build(SiteIn, {"business_id": field_str(form, "business_id", 16),
                              "name": field_str(form, "name", 200),
                              "address": field_str(form, "address", 300, required=False),
                              "capacity": field_int(form, "capacity", 1, 100000, required=False),
                              "formats": [1, 2] if field_bool(form, "dcc") else None,
                              **field_coords(form)})
        site = site_api.create_site(body, ctx.user, ctx.db)
        return f"/ui/businesses/{site.business_id}?ok=done"
    return await action(request, DISTRICT, do)


@router.post("/sites/{site_id}/dcc")
async def site_dcc(request: Request, site_id: int) -> Response:
    """Accept EU DCCs at this site's gates, or stop (config key 9)."""
    def do(ctx: Ctx, form: dict) -> str:
        body = build(SitePatch, {"formats": [1, 2] if field_bool(form, "accept") else [1]})
        site = site_api.update_site(site_id, body, ctx.user, ctx.db)
        return f"/ui/businesses/{site.business_id}?ok=done"
    return await action(request, DISTRICT, do)


@router.post("/sites/{site_id}/publish")
async def site_publish(request: Request, site_id: int) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        site = site_api.publish(site_id, ctx.user, ctx.db)
        return f"/ui/businesses/{site.business_id}?ok=done"
    return await action(request, DISTRICT, do)


# -- devices --------------------------------------------------------------------

@router.get("/devices/{device_id}")
def device_detail(request: Request, device_id: str) -> Response:
    def view(ctx: Ctx) -> Response:
        d = registry.get_device(ctx.db, device_id)
        site = ctx.db.get(Site, d.site_id) if d.site_id is not None else None
        ctx.check_business(site.business_id if site else None)
        has_png = device_svc.latest_screenshot(ctx.db, d.id) is not None
        sites = list(ctx.db.scalars(select(Site).order_by(Site.id).limit(2000))) \
            if ctx.is_district else []
        lists = versions.for_devices(ctx.db, [d])[d.id]
        return render(ctx, "device.html", d=d, site=site, sites=sites, has_png=has_png, lists=lists,
                      commands=("sync", "reboot", "open_gate", "screenshot"))
    return page(request, ALL_ROLES, view)


@router.post("/devices/{device_id}/command")
async def device_command(request: Request, device_id: str) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        command = form.get("command")
        args = {}
        if command == "show_message":
            args = {"vi": field_str(form, "vi", 120), "en": field_str(form, "en", 120)}
        elif command == "open_gate":
            args = {"seconds": 5}
        dev_api.command(device_id, build(CommandIn, {"command": command, "args": args}),
                        ctx.user, ctx.db)
        return f"/ui/devices/{device_id}?ok=dev.queued"
    return await action(request, DISTRICT, do)


@router.post("/devices/{device_id}/update")
async def device_update(request: Request, device_id: str) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        data = {}
        if "site_id" in form:
            data["site_id"] = field_int(form, "site_id", 1, 2**31 - 1)
        if form.get("status"):
            data["status"] = form["status"]
        dev_api.update_device(device_id, build(DevicePatch, data), ctx.user, ctx.db)
        return f"/ui/devices/{device_id}?ok=done"
    return await action(request, DISTRICT, do)


# -- allowlists (manager drafts, district approves) ------------------------------

@router.post("/businesses/{business_id}/allowlist")
async def allow_draft(request: Request, business_id: str) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        body = build(AllowlistIn, {"pass_hash": field_str(form, "pass_hash", 32)})
        allow_api.draft(business_id, body, ctx.user, ctx.db)
        return f"/ui/businesses/{business_id}?ok=done"
    return await action(request, EDITORS, do)


def _allow_decide(request: Request, entry_id: int, verb: str, roles: tuple[str, ...]):  # noqa: ANN202
    def do(ctx: Ctx, form: dict) -> str:
        entry = ctx.db.get(AllowlistEntry, entry_id)
        if entry is None:
            raise errors.NotFound(f"allowlist entry {entry_id} not found")
        ctx.check_business(entry.business_id)
        getattr(allow_api, verb)(entry_id, ctx.user, ctx.db)
        return f"/ui/businesses/{entry.business_id}?ok=done"
    return action(request, roles, do)


@router.post("/allowlist/{entry_id}/approve")
async def allow_approve(request: Request, entry_id: int) -> Response:
    return await _allow_decide(request, entry_id, "approve", DISTRICT)


@router.post("/allowlist/{entry_id}/reject")
async def allow_reject(request: Request, entry_id: int) -> Response:
    return await _allow_decide(request, entry_id, "reject", DISTRICT)


@router.post("/allowlist/{entry_id}/remove")
async def allow_remove(request: Request, entry_id: int) -> Response:
    return await _allow_decide(request, entry_id, "remove", EDITORS)


# -- passes -----------------------------------------------------------------------

@router.get("/passes")
def passes_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = pass_filters(ctx)
        pg = lists.pass_page(ctx.db, f, ctx.scope)
        return render(ctx, "passes.html", page=pg,
                      rows=[(p, name, shown) for p, name, shown, *_k in pg.rows],
                      export="/ui/passes.csv" + f.query(), **list_context(ctx, f))
    return page(request, ALL_ROLES, view)


@router.post("/passes")
async def pass_issue(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> Response:
        role = field_int(form, "role", 0, 4)
        body = build(PassIn, {
            "role": role, "initials": field_str(form, "initials", 6),
            "birth_year": field_int(form, "birth_year", 1900, 2100),
            "valid_days": field_int(form, "valid_days", 1, 366, required=False) or 30,
            "business_id": (form.get("business_id") or "").strip() or None})
        issued = pass_api.issue(body, ctx.user, ctx.db, ctx.settings)
        svg = gi.make_qr(issued.qr_text).svg_inline(scale=4, border=4)
        return render(ctx, "pass_issued.html", http_status=201, p=issued, qr_svg=Markup(svg))
    return await action(request, EDITORS, do)


@router.post("/passes/{pass_hash}/card.pdf")
async def pass_card(request: Request, pass_hash: str) -> Response:
    def do(ctx: Ctx, form: dict) -> Response:
        body = build(CardIn, {"qr_text": form.get("qr_text") or ""})
        return pass_api.card(pass_hash, body, ctx.user, ctx.db)
    return await action(request, EDITORS, do)


# -- revocations --------------------------------------------------------------------

@router.get("/revocations")
def revocations_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        rows = list(ctx.db.scalars(select(Revocation).order_by(Revocation.version.desc()).limit(200)))
        return render(ctx, "revocations.html", rows=rows, reasons=revocations.REASONS,
                      current=versions.current_revocation(ctx.db),
                      lift_reasons=revocations.LIFT_REASONS)
    return page(request, READERS_DISTRICT, view)


@router.post("/revocations")
async def revoke(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        revocations.revoke(ctx.db, field_str(form, "pass_hash", 32), form.get("reason") or "",
                           ctx.user.username)
        return "/ui/revocations?ok=rev.done"
    return await action(request, DISTRICT, do)


@router.post("/revocations/{pass_hash}/lift")
async def lift(request: Request, pass_hash: str) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        revocations.lift(ctx.db, pass_hash, form.get("reason") or "", ctx.user.username,
                         form.get("note") or "", note_required=True)
        return "/ui/revocations?ok=rev.lifted_done"
    return await action(request, DISTRICT, do)
