"""Searchable, filterable, paged lists and their CSV exports: scans, audit
log, passes (export; the page is in views_manage), devices (export; the
page is the overview). The alerts list is alert_list.py on the same layer.
Filters live in the URL (`listing.parse_filters`)."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fleet.models import Business

from . import listing, lists, localtime, queries
from .context import ALL_ROLES, READERS_DISTRICT, Ctx, page, render

router = APIRouter()


def scoped(ctx: Ctx, f: listing.Filters) -> listing.Filters:
    """A business filter must be the manager's own (403 before saying whether it exists)."""
    if f.business:
        ctx.check_business(f.business)
    return f


def scan_filters(ctx: Ctx, default_range: str = "today") -> listing.Filters:
    return scoped(ctx, listing.parse_filters(ctx.request.query_params, ctx.tz, allowed=lists.SCAN_FILTERS,
                                             default_range=default_range))


def audit_filters(ctx: Ctx) -> listing.Filters:
    return listing.parse_filters(ctx.request.query_params, ctx.tz, allowed=lists.AUDIT_FILTERS,
                                 default_range="7d")


def list_context(ctx: Ctx, f: listing.Filters) -> dict:
    """What the filter form macro needs besides the filters."""
    names = {}
    if f.business:
        b = ctx.db.get(Business, f.business)
        names["business"] = b.name if b else None
    return {"f": f, "wards": lists.wards(ctx.db, ctx.scope),
            "reason_choices": lists.reason_choices(ctx.lang), "names": names}


@router.get("/scans")
def scans_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = scan_filters(ctx)
        pg = lists.scan_page(ctx.db, f, ctx.scope, ctx.lang, ctx.tz)
        return render(ctx, "scans.html", page=pg, export="/ui/scans.csv" + f.query(),
                      **list_context(ctx, f))
    return page(request, ALL_ROLES, view)


@router.get("/scans.csv")
def scans_csv(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = scan_filters(ctx)
        sessions = request.app.state.sessions
        if ctx.db.get_bind().dialect.name == "postgresql":  # the database formats the rows
            sql, params = lists.scans_copy_sql(ctx.db, f, ctx.scope, ctx.lang, ctx.tz.key)
            head = listing.header(lists.SCAN_CSV)
            return listing.csv_response("scans", lists.SCAN_CSV, listing.copy_chunks(sessions, head, sql, params),
                                        ready=True)
        stmt = lists.scans_export_select(ctx.db, f, ctx.scope)
        rows = lists.scan_csv_rows(listing.stream_query(sessions, stmt, orm=False), ctx.lang, ctx.tz)
        return listing.csv_response("scans", lists.SCAN_CSV, rows, text_columns=lists.SCAN_CSV_TEXT)
    return page(request, ALL_ROLES, view)


@router.get("/audit")
def audit_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = audit_filters(ctx)
        pg = lists.audit_page(ctx.db, f)
        pg.rows = [(a, localtime.fmt(a.at, ctx.tz)) for a, *_k in pg.rows]
        return render(ctx, "audit.html", page=pg, actions=lists.audit_actions(ctx.db),
                      export="/ui/audit.csv" + f.query(), **list_context(ctx, f))
    return page(request, READERS_DISTRICT, view)


@router.get("/audit.csv")
def audit_csv(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        rows = lists.audit_csv_rows(listing.stream_query(request.app.state.sessions,
                                                         lists.audit_export_select(audit_filters(ctx))),
                                    ctx.tz)
        return listing.csv_response("audit", lists.AUDIT_CSV, rows)
    return page(request, READERS_DISTRICT, view)


@router.get("/passes.csv")
def passes_csv(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        f = pass_filters(ctx)
        stmt = lists.passes_export_select(ctx.db, f, ctx.scope)
        rows = lists.pass_csv_rows(listing.stream_query(request.app.state.sessions, stmt), ctx.lang,
                                   ctx.tz)
        return listing.csv_response("passes", lists.PASS_CSV, rows)
    return page(request, ALL_ROLES, view)


def pass_filters(ctx: Ctx) -> listing.Filters:
    return scoped(ctx, listing.parse_filters(ctx.request.query_params, ctx.tz, allowed=lists.PASS_FILTERS))


@router.get("/devices.csv")
def devices_csv(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        o = overview_filters(ctx)
        stmt = queries.device_export_select(ctx.db, scope=ctx.scope, **o.query_args)
        sessions = request.app.state.sessions
        rows = lists.device_csv_rows(listing.stream_query(sessions, stmt), ctx.lang, ctx.tz, sessions)
        return listing.csv_response("devices", lists.DEVICE_CSV, rows)
    return page(request, ALL_ROLES, view)


class OverviewFilters:
    """The device list's filters: listing ones (ward, business, site, q) plus
    the overview's own state and drift."""

    def __init__(self, ctx: Ctx) -> None:
        p = ctx.request.query_params
        f = scoped(ctx, listing.parse_filters(p, ctx.tz, allowed=(*lists.DEVICE_FILTERS, "q"), paged=False))
        state = (p.get("state") or "").strip()
        if state not in ("", "online", "offline"):
            raise listing.bad("state", "chọn online hoặc offline", "choose online or offline")
        drift = p.get("drift") == "1"
        self.filters = replace(f, extra={"state": state, "drift": "1" if drift else ""})
        extra = lists.device_conditions(ctx.db, f, ctx.scope)
        if f.q:
            extra.append(queries.device_search(ctx.db, f.q, ctx.scope))
        self.query_args = {"business": f.business or None, "state": state or None,
                           "drift_only": drift, "extra": extra}


def overview_filters(ctx: Ctx) -> OverviewFilters:
    return OverviewFilters(ctx)
