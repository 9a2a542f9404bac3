"""The site map: every site placed by its coordinates and coloured by its
state (fleet/services/site_map.py computes it), drawn by Leaflet served from
the fleet itself (fleet/web/vendor.py). The page lists the sites that need
attention, so the map is not the only way to reach them (keyboard, screen
readers, no JavaScript). The markers travel in a compact form
(fleet/web/map_data.py); a marker's names are fetched when it is opened."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from fleet.api import hardening
from fleet.api.routes import sites as site_api
from fleet.api.schemas import SitePatch
from fleet.core import errors
from fleet.services import site_map

from . import map_data, vendor
from .context import ALL_ROLES, DISTRICT, Ctx, _resolve_user, action, page, render

router = APIRouter()
ATTENTION_LISTED = 100


def tile_origin(tile_url: str) -> str | None:
    """The tile server's origin for the page's img-src ({s} subdomains -> *)."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    host = parts.netloc.replace("{s}", "*")
    if "{" in host or "}" in host or " " in host or ";" in host or "'" in host:
        return None
    return f"{parts.scheme}://{host}"


def map_csp(tile_url: str) -> str:
    """The strict policy, plus the district's tile server for images."""
    origin = tile_origin(tile_url)
    if origin is None:
        return hardening.CSP
    return hardening.CSP.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")


@router.get("/map")
def map_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        data = site_map.summary(ctx.db, ctx.scope, ATTENTION_LISTED)
        tile_url = ctx.settings.map_tile_url if tile_origin(ctx.settings.map_tile_url) else ""
        resp = render(ctx, "map.html", **data, states=site_map.STATES, tile_url=tile_url,
                      attribution=ctx.settings.map_tile_attribution,
                      leaflet=getattr(request.app.state, "leaflet", False) and vendor.installed())
        resp.headers["Content-Security-Policy"] = map_csp(tile_url)
        return resp
    return page(request, ALL_ROLES, view)


def _scoped(request: Request, answer) -> Response:  # noqa: ANN001
    """answer(db, scope) -> Response for a signed-in user (a manager: their
    business only); 401 JSON otherwise."""
    with request.app.state.sessions() as db:
        user, _ = _resolve_user(request, db)
        if user is None:
            return JSONResponse({"error": "NOT_AUTHENTICATED",
                                 "detail": "log in first / vui lòng đăng nhập"}, status_code=401)
        return answer(db, user.business_id if user.role == "manager" else None)


@router.get("/map/markers.json")
async def map_markers(request: Request) -> Response:
    """The placed sites with their state code, for the signed-in user's scope
    (map_data.py: the compact form). Validated by an ETag of the body (the
    browser asks again each time and gets 304 while nothing changed), gzip
    when the client takes it."""
    def answer(db, scope: str | None) -> Response:  # noqa: ANN001
        raw = map_data.encode(map_data.markers(db, scope))
        tag = map_data.etag(raw)
        # private: per user's scope; no-cache: revalidate every time (states change)
        headers = {"ETag": tag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding, Cookie"}
        if map_data.matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        if len(raw) >= map_data.GZIP_MIN and map_data.wants_gzip(request.headers.get("accept-encoding")):
            raw = map_data.compress(raw)
            headers["Content-Encoding"] = "gzip"
        return Response(raw, media_type="application/json", headers=headers)
    return await run_in_threadpool(_scoped, request, answer)


@router.get("/map/sites/{site_id}.json")
async def map_site(request: Request, site_id: int) -> Response:
    """One site's popup (name, business, state, gates, first gate), scoped."""
    def answer(db, scope: str | None) -> Response:  # noqa: ANN001
        body = map_data.detail(db, scope, site_id)
        if body is None:
            return JSONResponse({"error": "NOT_FOUND", "detail": "no such site / không có địa điểm này"},
                                status_code=404, headers={"Cache-Control": "no-store"})
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
    return await run_in_threadpool(_scoped, request, answer)


def field_coords(form: dict) -> dict:
    """lat / lon form fields -> {"lat": float, "lon": float}, {} when both are
    empty, a 400 page otherwise (ranges and pairing: the API schema)."""
    raw = {k: (form.get(k) or "").strip().replace(",", ".") for k in ("lat", "lon")}
    if not raw["lat"] and not raw["lon"]:
        return {}
    out = {}
    for k, v in raw.items():
        try:
            out[k] = float(v) if len(v) <= 32 else None
        except ValueError:
            out[k] = None
        if out[k] is None:
            raise errors.BadRequest(f"{k}: not a number / không phải số", code="BAD_FORM")
    return out


@router.post("/sites/{site_id}/location")
async def site_location(request: Request, site_id: int) -> Response:
    def do(ctx: Ctx, form: dict) -> str:
        from .views_manage import build

        coords = field_coords(form) or {"lat": None, "lon": None}
        site = site_api.update_site(site_id, build(SitePatch, coords), ctx.user, ctx.db)
        return f"/ui/businesses/{site.business_id}?ok=done"
    return await action(request, DISTRICT, do)
