"""Fleet overview, live scan feed (Server-Sent Events) and charts (alerts:
views_alerts.py)."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from fleet.core import errors
from fleet.models import Business

from . import analytics, charts, listing, lists, localtime, queries
from .views_lists import list_context, overview_filters, scan_filters
from .context import ALL_ROLES, Ctx, _lang, _resolve_user, page, render

router = APIRouter()


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return min(max(int(request.query_params.get(name, default)), lo), hi)
    except ValueError:
        return default


@router.get("/")
def overview(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        o = overview_filters(ctx)
        f = o.filters
        data = queries.fleet_overview(ctx.db, ctx.settings, scope=ctx.scope, q=None,
                                      page=_int_param(request, "page", 1, 1, 10**6), **o.query_args)
        summary = queries.fleet_summary(ctx.db, ctx.scope)
        day = analytics.last_hours(ctx.db, ctx.scope, 24)
        summary["accepted24"], summary["denied24"] = day["accepted"], day["denied"]
        filters = {"state": f.extra["state"], "business": f.business, "q": f.q, "drift": f.extra["drift"]}
        return render(ctx, "overview.html", data=data, summary=summary, filters=filters,
                      page_query=lambda n: f.query(page=n), export="/ui/devices.csv" + f.query(),
                      **list_context(ctx, f))
    return page(request, ALL_ROLES, view)


# -- live scan feed ------------------------------------------------------------

@router.get("/feed")
def feed(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = feed_filters(ctx.request, ctx.tz, ctx.check_business)
        conds = lists.scan_conditions(ctx.db, f, ctx.scope)
        scans = queries.latest_scans(ctx.db, ctx.scope, conds=conds)
        places = queries.place_names(ctx.db, [s.site_id for s in scans])
        rows = [queries.scan_event(s, ctx.lang, ctx.tz, places) for s in scans]
        # Resume after what is shown; with nothing shown, after the newest scan of
        # the whole fleet (ids are global), never from the start of history.
        last = max((r["id"] for r in rows), default=None)
        if last is None:
            last = queries.max_scan_id(ctx.db)
        return render(ctx, "feed.html", rows=rows, last_id=last, stream="/ui/feed/stream" + f.query(),
                      history="/ui/scans" + f.query(), **list_context(ctx, f))
    return page(request, ALL_ROLES, view)


FEED_FILTERS = tuple(k for k in lists.SCAN_FILTERS if k != "range")  # live: newest first, no range


def feed_filters(request: Request, tz, check_business) -> listing.Filters:  # noqa: ANN001
    f = listing.parse_filters(request.query_params, tz, allowed=FEED_FILTERS, paged=False)
    if f.business:
        check_business(f.business)
    return f


# Names are typed by people: in the event text, <, > and & travel as JSON
# escapes (JSON.parse gives them back; feed.js sets them as text, never HTML).
HTML_CHARS = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def sse_json(row: dict) -> str:
    """One line of JSON (json.dumps escapes newlines, so a name cannot end the event)."""
    return json.dumps(row, ensure_ascii=False).translate(HTML_CHARS)


POLL_S = 1.0
# A client resuming far behind (hours offline) jumps to the last CATCH_UP
# scans: the feed is for watching; totals are on the charts.
CATCH_UP = 500


@router.get("/feed/stream")
async def feed_stream(request: Request) -> Response:
    """text/event-stream of new scans (id > Last-Event-ID or ?after=). The
    stream ends after `window` seconds (default 30, 1..300); EventSource
    reconnects by itself with Last-Event-ID, so nothing is skipped."""
    lang, _ = _lang(request)
    tz = localtime.zone(request.app.state.settings.timezone)

    def auth() -> tuple[str | None, bool, list]:
        """(scope, logged in, the filters' SQL conditions: built once per stream)."""
        with request.app.state.sessions() as db:
            user, _ = _resolve_user(request, db)
            if user is None:
                return None, False, []
            scope = user.business_id if user.role == "manager" else None

            def check(business: str) -> None:
                if scope is not None and business != scope:
                    raise errors.Forbidden("not your business", code="BUSINESS_SCOPE")

            f = feed_filters(request, tz, check)
            return scope, True, lists.scan_conditions(db, f, scope)

    try:
        scope, ok, conds = await run_in_threadpool(auth)
    except errors.FleetError as exc:
        return Response(f"{exc.code}: {exc.message}\n", status_code=exc.status,
                        media_type="text/plain; charset=utf-8")
    if not ok:
        return Response("log in first / vui lòng đăng nhập\n", status_code=401,
                        media_type="text/plain; charset=utf-8")
    after_raw = request.headers.get("last-event-id") or request.query_params.get("after")
    try:
        after = int(after_raw) if after_raw is not None else None
    except ValueError:
        after = None
    window = _int_param(request, "window", 30, 1, 300)
    sessions = request.app.state.sessions
    places: dict = {}  # this stream's names, read once per site (queries.place_names)

    def start_point(last: int | None) -> int:
        with sessions() as db:
            newest = queries.max_scan_id(db)
        if last is None or last < 0 or last > newest:
            return newest
        return max(last, newest - CATCH_UP)

    def poll(last: int) -> tuple[int, list[dict]]:
        with sessions() as db:
            rows = queries.scans_after(db, scope, last, limit=CATCH_UP, conds=conds)
            queries.place_names(db, [s.site_id for s in rows], places)
            return (rows[-1].id if rows else last), [queries.scan_event(s, lang, tz, places) for s in rows]

    async def events():  # noqa: ANN202
        last = await run_in_threadpool(start_point, after)
        deadline = time.monotonic() + window
        yield "retry: 2000\n\n"
        while True:
            last, rows = await run_in_threadpool(poll, last)
            for row in rows:
                yield f"id: {row['id']}\nevent: scan\ndata: {sse_json(row)}\n\n"
            if time.monotonic() >= deadline or await request.is_disconnected():
                # Tell the client where to resume even if no scan came.
                yield f"id: {last}\nevent: ping\ndata: {{}}\n\n"
                return
            await asyncio.sleep(POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- charts: analytics from the hourly rollup --------------------------------------

@router.get("/charts")
def charts_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = scan_filters(ctx, default_range="today")
        if f.business and ctx.db.get(Business, f.business) is None:
            raise errors.NotFound(f"unknown business {f.business}", code="UNKNOWN_BUSINESS",
                                  subject=f.business)
        an = analytics.compute(ctx.db, f, ctx.scope, ctx.tz)
        labels = (ctx.t("accepted"), ctx.t("denied"))
        axis = ctx.t("charts.axis", localtime.offset_text(ctx.tz))
        svg = charts.stacked_bars(an.series, an.bucket, ctx.t("an.per_hour"), labels, ctx.tz, axis)
        return render(ctx, "charts.html", an=an, chart=svg, **list_context(ctx, f),
                      range_text=f"{localtime.fmt(an.start, ctx.tz)} – {localtime.fmt(an.end, ctx.tz)}")
    return page(request, ALL_ROLES, view)
