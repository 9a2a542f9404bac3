"""Operators' dashboard (server-rendered, Vietnamese + English).

Mount it on the fleet app:

    from fleet import web
    web.mount(app)          # = app.include_router(web.router) + /ui/static

Pages live under /ui/ and use the same `gg_session` cookie as the JSON API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import (context, vendor, views_alerts, views_auth, views_dcc, views_f0, views_fleet, views_lists,
               views_manage, views_map, views_ota, views_users)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/ui/static"
VENDOR_PATH = "/ui/vendor/leaflet"  # Leaflet's dist/ (fleet/web/vendor.py), when installed

router = APIRouter(prefix="/ui", include_in_schema=False)
for _m in (views_auth, views_fleet, views_alerts, views_lists, views_map, views_manage, views_f0, views_users,
           views_dcc, views_ota):
    router.include_router(_m.router)

root_router = APIRouter(include_in_schema=False)


@root_router.get("/")
def _root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@root_router.get("/favicon.ico")
def _favicon() -> FileResponse:
    # browsers ask for it even with the <link rel="icon"> of every page
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


def _html_404_under_ui(app: FastAPI) -> None:
    """Unknown /ui/ addresses get the dashboard's HTML 404 page; the API and
    static files keep their JSON problem / plain answers."""
    api_handler = app.exception_handlers.get(StarletteHTTPException)

    async def handler(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if exc.status_code == 404 and (path == "/ui" or path.startswith("/ui/")) \
                and not path.startswith((STATIC_PATH + "/", VENDOR_PATH + "/")) and request.method in ("GET", "HEAD"):
            return await run_in_threadpool(context.not_found_page, request)
        if api_handler is not None:
            return await api_handler(request, exc)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, handler)


def mount(app: FastAPI) -> FastAPI:
    app.include_router(router)
    app.include_router(root_router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="ui-static")
    # Leaflet only when installed (a missing directory would make StaticFiles
    # fail with a 500); installed later, it is served after a restart.
    app.state.leaflet = vendor.installed()
    if app.state.leaflet:
        app.mount(VENDOR_PATH, StaticFiles(directory=vendor.package_dir() / "dist"),
                  name="ui-vendor-leaflet")
    _html_404_under_ui(app)
    return app


__all__ = ["STATIC_DIR", "STATIC_PATH", "VENDOR_PATH", "mount", "root_router", "router"]
