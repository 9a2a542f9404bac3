"""Alerts page: alert groups with severity, count, first and last seen;
filters (state, severity, kind, time range, subject), server-side pages,
CSV of the filtered list (streamed), and acknowledging one or many groups
with a note (fleet.services.alerts.acknowledge, audited)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fleet.services import alerts as alert_svc
from fleet.services import audit

from . import alert_list, listing
from .context import ALL_ROLES, DISTRICT, EDITORS, Ctx, action, page, render
from .views_lists import list_context, scoped

router = APIRouter()
ACK_FIELD = re.compile(r"^ack_(\d{1,12})$")
# the list's own query string, carried through the acknowledge form
BACK_QUERY = re.compile(r"^\?[A-Za-z0-9_.\-=&%+:]{0,400}$")


def alert_filters(ctx: Ctx) -> listing.Filters:
    return scoped(ctx, alert_list.parse(ctx.request.query_params, ctx.tz))


@router.get("/alerts")
def alerts_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = alert_filters(ctx)
        result = alert_list.page(ctx.db, f, ctx.scope)
        return render(ctx, "alerts.html", result=result, page=result.page,
                      state=alert_list.state(f), kinds=alert_svc.KINDS,
                      severities=alert_svc.SEVERITIES, states=alert_list.STATES,
                      pass_hash=alert_list.pass_hash, back=f.query(),
                      export="/ui/alerts.csv" + f.query(), note_max=alert_svc.ACK_NOTE_MAX,
                      **list_context(ctx, f))
    return page(request, ALL_ROLES, view)


@router.get("/alerts.csv")
def alerts_csv(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = alert_filters(ctx)
        stmt = alert_list.export_select(ctx.db, f, ctx.scope)
        rows = alert_list.csv_rows(listing.stream_query(request.app.state.sessions, stmt), ctx.tz, ctx.lang)
        return listing.csv_response("alerts", alert_list.CSV, rows)
    return page(request, ALL_ROLES, view)


def _back(form: dict) -> str:
    back = form.get("back") or ""
    return "/ui/alerts" + (back if BACK_QUERY.match(back) else "?")


def _acknowledge(ctx: Ctx, form: dict, ids: list[int]) -> str:
    done = alert_svc.acknowledge(ctx.db, ids, ctx.user.username, form.get("note") or "",
                                 scope=ctx.scope)
    back = _back(form)
    return back + ("&" if back != "/ui/alerts?" else "") + f"ok=done&acked={len(done)}"


@router.post("/alerts/ack")
async def alerts_ack(request: Request) -> Response:
    """The list's form: the ticked rows (fields ack_<id>), or the one row
    whose own button was pressed (field `only`), with the form's note."""
    def do(ctx: Ctx, form: dict) -> str:
        only = form.get("only") or ""
        if only:
            ids = [int(only)] if only.isdigit() and len(only) <= 12 else []
        else:
            ids = [int(m.group(1)) for k in form if (m := ACK_FIELD.match(k))]
        return _acknowledge(ctx, form, ids)
    return await action(request, EDITORS, do)


@router.post("/alerts/{alert_id}/ack")
async def alert_ack(request: Request, alert_id: int) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        return _acknowledge(ctx, form, [alert_id])
    return await action(request, EDITORS, do)


@router.post("/alerts/evaluate")
async def alert_evaluate(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        raised = alert_svc.evaluate(ctx.db, ctx.settings)
        audit.record(ctx.db, ctx.user.username, "alert.evaluate", "fleet", "-", raised=len(raised))
        return "/ui/alerts?ok=done"
    return await action(request, DISTRICT, do)
