"""Fleet overview, live scan feed (Server-Sent Events) and charts (alerts:
views_alerts.py)."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from . import charts, queries
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
        p = request.query_params
        state = p.get("state") if p.get("state") in ("online", "offline") else None
        business = (p.get("business") or "").strip()[:16] or None
        if business:
            ctx.check_business(business)
        q = (p.get("q") or "").strip()[:32] or None
        drift_only = p.get("drift") == "1"
        data = queries.fleet_overview(ctx.db, ctx.settings, scope=ctx.scope, business=business,
                                      q=q, state=state, drift_only=drift_only,
                                      page=_int_param(request, "page", 1, 1, 10**6))
        summary = queries.fleet_summary(ctx.db, ctx.scope)
        hourly = queries.fleet_hourly(ctx.db, ctx.scope, 24)
        summary["accepted24"] = sum(a for _, a, _ in hourly["series"])
        summary["denied24"] = sum(d for _, _, d in hourly["series"])
        filters = {"state": state or "", "business": business or "", "q": q or "",
                   "drift": "1" if drift_only else ""}
        return render(ctx, "overview.html", data=data, summary=summary, filters=filters,
                      page_query=lambda n: _query({**filters, "page": n}))
    return page(request, ALL_ROLES, view)


def _query(params: dict) -> str:
    from urllib.parse import urlencode
    return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


# -- live scan feed ------------------------------------------------------------

@router.get("/feed")
def feed(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        rows = [queries.scan_event(s, ctx.lang) for s in queries.latest_scans(ctx.db, ctx.scope)]
        # Resume after what is shown; with nothing shown, after the newest scan of
        # the whole fleet (ids are global), never from the start of history.
        last = max((r["id"] for r in rows), default=None)
        if last is None:
            last = queries.max_scan_id(ctx.db)
        return render(ctx, "feed.html", rows=rows, last_id=last)
    return page(request, ALL_ROLES, view)


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

    def auth() -> tuple[str | None, bool]:
        with request.app.state.sessions() as db:
            user, _ = _resolve_user(request, db)
            if user is None:
                return None, False
            return (user.business_id if user.role == "manager" else None), True

    scope, ok = await run_in_threadpool(auth)
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

    def start_point(last: int | None) -> int:
        with sessions() as db:
            newest = queries.max_scan_id(db)
        if last is None or last < 0 or last > newest:
            return newest
        return max(last, newest - CATCH_UP)

    def poll(last: int) -> tuple[int, list[dict]]:
        with sessions() as db:
            rows = queries.scans_after(db, scope, last, limit=CATCH_UP)
            return (rows[-1].id if rows else last), [queries.scan_event(s, lang) for s in rows]

    async def events():  # noqa: ANN202
        last = await run_in_threadpool(start_point, after)
        deadline = time.monotonic() + window
        yield "retry: 2000\n\n"
        while True:
            last, rows = await run_in_threadpool(poll, last)
            for row in rows:
                yield f"id: {row['id']}\nevent: scan\ndata: {json.dumps(row, ensure_ascii=False)}\n\n"
            if time.monotonic() >= deadline or await request.is_disconnected():
                # Tell the client where to resume even if no scan came.
                yield f"id: {last}\nevent: ping\ndata: {{}}\n\n"
                return
            await asyncio.sleep(POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- charts --------------------------------------------------------------------

RANGES = {"24h": (24, 3600), "7d": (24 * 7, 6 * 3600), "30d": (24 * 30, 86400)}


@router.get("/charts")
def charts_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        labels = (ctx.t("accepted"), ctx.t("denied"))
        hourly = queries.fleet_hourly(ctx.db, ctx.scope, 24)
        fleet_svg = charts.stacked_bars(hourly["series"], 3600, ctx.t("charts.fleet"), labels)
        busiest = sorted(hourly["per_business"].items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:20]
        top = [(bid, v[0], v[1], charts.sparkline(v[2], v[3])) for bid, v in busiest]
        business = (request.query_params.get("business") or "").strip()[:16] or ctx.scope
        rng = request.query_params.get("range") if request.query_params.get("range") in RANGES else "24h"
        biz_svg = None
        if business:
            ctx.check_business(business)
            hours, bucket = RANGES[rng]
            series = queries.business_series(ctx.db, business, hours, bucket)
            biz_svg = charts.stacked_bars(series, bucket, ctx.t("charts.business_title", business),
                                          labels)
        return render(ctx, "charts.html", fleet_svg=fleet_svg, top=top, business=business,
                      rng=rng, ranges=list(RANGES), biz_svg=biz_svg)
    return page(request, ALL_ROLES, view)
