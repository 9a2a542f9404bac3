"""The F0 workflow, one page per case: mark F0 (revokes the pass on every
gate) -> exposure list -> suspend affected businesses -> reinstate each one.
Every step is a fleet.services.f0 call, so every step is audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from fleet.core import errors
from fleet.models import Business, F0Case
from fleet.services import audit, f0, f0_report

from .context import DISTRICT, Ctx, action, field_int, field_str, page, render

router = APIRouter()


def _case(ctx: Ctx, case_id: int) -> F0Case:
    c = ctx.db.get(F0Case, case_id)
    if c is None:
        raise errors.NotFound(f"F0 case {case_id} not found")
    return c


@router.get("/f0")
def f0_list(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        cases = list(ctx.db.scalars(select(F0Case).order_by(F0Case.id.desc()).limit(200)))
        return render(ctx, "f0.html", cases=cases)
    return page(request, DISTRICT, view)


@router.post("/f0")
async def f0_mark(request: Request) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        days = field_int(form, "days", 1, 60, required=False) or ctx.settings.exposure_days
        hours = field_int(form, "hours", 1, 48, required=False) or ctx.settings.exposure_hours
        c = f0.mark_f0(ctx.db, field_str(form, "pass_hash", 32), ctx.user.username, days, hours)
        return f"/ui/f0/{c.id}?ok=done"
    return await action(request, DISTRICT, do)


@router.get("/f0/{case_id}")
def f0_case(request: Request, case_id: int) -> Response:
    def view(ctx: Ctx) -> Response:
        c = _case(ctx, case_id)
        ids = f0.affected_businesses(c)
        businesses = {b.id: b for b in ctx.db.scalars(select(Business).where(Business.id.in_(ids)))}
        trail = f0_report.trail(ctx.db, c)
        return render(ctx, "f0_case.html", c=c, businesses=businesses, affected=ids, trail=trail)
    return page(request, DISTRICT, view)


@router.post("/f0/{case_id}/suspend")
async def f0_suspend(request: Request, case_id: int) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        f0.suspend_affected(ctx.db, _case(ctx, case_id), ctx.user.username)
        return f"/ui/f0/{case_id}?ok=done"
    return await action(request, DISTRICT, do)


@router.post("/f0/{case_id}/close")
async def f0_close(request: Request, case_id: int) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        f0.close_case(ctx.db, _case(ctx, case_id), ctx.user.username)
        return f"/ui/f0/{case_id}?ok=done"
    return await action(request, DISTRICT, do)


@router.get("/f0/{case_id}/report.pdf")
def f0_report_pdf(request: Request, case_id: int) -> Response:
    """The case report for contact tracers (fleet/services/f0_report.py);
    each download is audited: the list leaves the system with it."""
    def view(ctx: Ctx) -> Response:
        c = _case(ctx, case_id)
        pdf = f0_report.render(ctx.db, c, ctx.tz, ctx.user.username)
        audit.record(ctx.db, ctx.user.username, "f0.report", "f0_case", c.id, bytes=len(pdf))
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="greengate-f0-case-{c.id}.pdf"',
            "Cache-Control": "no-store"})
    return page(request, DISTRICT, view)
