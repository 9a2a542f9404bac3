"""Firmware updates (issue 14): the releases the fleet holds, rollout
campaigns with per-wave progress and per-gate status, and the buttons that
steer them. District staff and viewers read; only an admin creates, starts,
pauses, resumes or cancels (every action is a fleet.services.ota call, so it
is audited and takes the campaign's row lock like the engine)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fleet.core import errors
from fleet.services import ota, releases

from .context import READERS_DISTRICT, Ctx, action, field_int, field_str, page, render

router = APIRouter()
ADMIN = ("admin",)
DEVICES_PER_PAGE = 100
VERBS = {"start": ota.start, "pause": ota.pause, "resume": ota.resume, "cancel": ota.cancel}


@router.get("/firmware")
def firmware(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        camps = ota.list_campaigns(ctx.db)[:200]
        return render(ctx, "firmware.html", releases=releases.list_releases(ctx.db),
                      campaigns=[ota.summary(ctx.db, c) for c in camps])
    return page(request, READERS_DISTRICT, view)


@router.post("/firmware/campaigns")
async def campaign_create(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        try:
            waves = [float(w) if "." in w else int(w)
                     for w in field_str(form, "waves", 60).replace(" ", "").split(",")]
        except ValueError:
            raise errors.BadRequest("các đợt / waves: 1,10,100", code="BAD_WAVES") from None
        c = ota.create(ctx.db, field_int(form, "release", 1, 2**31 - 1),
                       ota.parse_target(field_str(form, "target", 2000)), waves, ctx.user.username,
                       name=field_str(form, "name", 100, required=False),
                       pause_s=field_int(form, "pause_s", 0, 30 * 86400),
                       failure_threshold_pct=field_int(form, "threshold", 0, 100),
                       max_in_flight=field_int(form, "max_in_flight", 1, 100_000))
        return f"/ui/firmware/campaigns/{c.id}?ok=done"
    return await action(request, ADMIN, do)


@router.get("/firmware/campaigns/{campaign_id}")
def campaign(request: Request, campaign_id: int) -> Response:
    def view(ctx: Ctx) -> Response:
        c = ota.get(ctx.db, campaign_id)
        status = request.query_params.get("status")
        status = status if status in ota.STATUSES else None
        try:
            page_no = max(1, int(request.query_params.get("page", 1)))
        except ValueError:
            page_no = 1
        rows = ota.device_rows(ctx.db, c.id, status, DEVICES_PER_PAGE + 1,
                               (page_no - 1) * DEVICES_PER_PAGE)
        nxt = None
        if len(rows) > DEVICES_PER_PAGE:
            rows = rows[:DEVICES_PER_PAGE]
            nxt = "?" + urlencode({k: v for k, v in {"status": status, "page": page_no + 1}.items() if v})
        return render(ctx, "campaign.html", c=ota.summary(ctx.db, c), rows=rows, status=status,
                      statuses=ota.STATUSES, next_url=nxt, can_steer=ctx.user.role == "admin")
    return page(request, READERS_DISTRICT, view)


@router.post("/firmware/campaigns/{campaign_id}/{verb}")
async def campaign_steer(request: Request, campaign_id: int, verb: str) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        if verb not in VERBS:
            raise errors.NotFound(f"không có thao tác {verb} / no action {verb}")
        VERBS[verb](ctx.db, campaign_id, ctx.user.username)
        return f"/ui/firmware/campaigns/{campaign_id}?ok=done"
    return await action(request, ADMIN, do)
