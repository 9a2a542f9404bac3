"""API routers, one module per area; `api_router` mounts them under /api/v1."""

from fastapi import APIRouter

from . import (alerts, allowlists, audit, businesses, dcc, devices, f0, issuers, login, ota, passes,
               revocations, scans, sites, users)

api_router = APIRouter(prefix="/api/v1")
for _m in (login, users, businesses, sites, devices, issuers, allowlists, passes, revocations,
           f0, alerts, scans, audit, dcc, ota):
    api_router.include_router(_m.router)
