"""Operators' dashboard (server-rendered, Vietnamese + English).

Mount it on the fleet app:

    from fleet import web
    web.mount(app)          # = app.include_router(web.router) + /ui/static

Pages live under /ui/ and use the same `gg_session` cookie as the JSON API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from . import views_alerts, views_auth, views_f0, views_fleet, views_manage, views_users

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/ui/static"

router = APIRouter(prefix="/ui", include_in_schema=False)
for _m in (views_auth, views_fleet, views_alerts, views_manage, views_f0, views_users):
    router.include_router(_m.router)

root_router = APIRouter(include_in_schema=False)


@root_router.get("/")
def _root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


def mount(app: FastAPI) -> FastAPI:
    app.include_router(router)
    app.include_router(root_router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="ui-static")
    return app


__all__ = ["STATIC_DIR", "STATIC_PATH", "mount", "root_router", "router"]
