"""FastAPI application factory."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.core import errors, security
from fleet.core.config import Settings
from fleet.core.db import make_engine, make_sessionmaker
from fleet.core.logging import log
from fleet.core.metrics import REGISTRY
from fleet.models import Alert, ControlOutbox, Device, Scan
from fleet.services import control, notify, users

from greengate.passes import keys as gk

from . import hardening
from .routes import api_router

logger = logging.getLogger("greengate.fleet.api")

DESCRIPTION = """GreenGate fleet service: businesses, sites, gates, passes, allowlists,
revocations, the F0 workflow, alerts and scans. Errors are RFC 9457 problem
documents with a machine-readable `title` code. Authenticate with
`POST /api/v1/login`, then `Authorization: Bearer <token>`."""


def _problem(status: int, code: str, detail: str, **extra: object) -> JSONResponse:
    body = {"type": f"urn:greengate:error:{code}", "title": code, "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def create_app(settings: Settings, sessions: sessionmaker[Session] | None = None,
               fleet_key: Ed25519PrivateKey | None = None) -> FastAPI:
    security.configure_hasher(settings.argon2_time_cost, settings.argon2_memory_kib)
    engine = None
    if sessions is None:
        engine = make_engine(settings.db_url)
        sessions = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        with sessions() as db:
            users.ensure_admin(db, settings.admin_username, settings.admin_password)
            db.commit()
        # new critical alerts to the webhook, when one is set (never in the ingest path)
        hook = notify.Webhook.from_settings(settings)
        notifier = notify.Notifier(sessions, hook).start() if hook else None
        yield
        if notifier is not None:
            notifier.stop()
        if engine is not None:
            engine.dispose()

    # /openapi.json, /docs, /redoc: behind a log-in unless public_api_docs (hardening.install)
    app = FastAPI(title="GreenGate fleet", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    hardening.install(app, settings)
    app.state.settings = settings
    app.state.sessions = sessions
    # The fleet key signs provisioning bundles here and control messages in the bridge.
    app.state.fleet_key = fleet_key or load_or_create_fleet_key(settings.signing_key_path,
                                                                create=settings.demo)
    app.state.fleet_public_key = gk.raw_public(app.state.fleet_key)
    app.state.device_broker_url = settings.device_broker_url or settings.broker_url or \
        f"mqtt://127.0.0.1:{settings.broker_port}"
    app.state.broker_ca_pem = (Path(settings.broker_ca_file).read_text()
                               if settings.broker_ca_file else None)

    @app.exception_handler(errors.FleetError)
    async def fleet_error(request: Request, exc: errors.FleetError) -> JSONResponse:
        resp = _problem(exc.status, exc.code, exc.message, **exc.extra)
        if "retry_after_s" in exc.extra:
            resp.headers["Retry-After"] = str(exc.extra["retry_after_s"])
        return resp

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                    for e in exc.errors()]
        return _problem(422, "VALIDATION", "request body or parameters are invalid / dữ liệu không hợp lệ",
                        errors=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return _problem(exc.status_code, code, str(exc.detail))

    @app.middleware("http")
    async def access_log(request: Request, call_next):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")  # template, never ids or query strings
        REGISTRY.inc("greengate_http_requests_total", route=path, method=request.method,
                     status=str(response.status_code))
        log(logger, "http", method=request.method, route=path, status=response.status_code,
            ms=round((time.perf_counter() - start) * 1000, 1))
        return response

    app.include_router(api_router)

    @app.get("/healthz", tags=["ops"])
    def healthz():  # noqa: ANN202
        # the bridges of this process: one that cannot make progress fails the check
        from fleet.broker_bridge import health

        bridges = health.reports()
        problems = [b["problem"] for b in bridges if b["problem"]]
        if problems:
            return JSONResponse({"ok": False, "problem": problems[0], "bridges": bridges},
                                status_code=503)
        return {"ok": True, **({"bridges": bridges} if bridges else {})}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse,
             summary="Prometheus metrics (text format 0.0.4; scrape token or admin/operator)",
             dependencies=[hardening.MetricsAccess])
    def metrics() -> PlainTextResponse:
        from fleet.broker_bridge import health
        from fleet.services import dead_letters

        with sessions() as db:
            online = db.scalar(select(func.count()).select_from(Device).where(Device.online.is_(True)))
            total = db.scalar(select(func.count()).select_from(Device))
            open_alerts = db.execute(select(Alert.kind, func.count()).where(
                Alert.acknowledged_at.is_(None)).group_by(Alert.kind)).all()
            pending = db.scalar(select(func.count()).select_from(ControlOutbox)
                                .where(ControlOutbox.published_at.is_(None)))
            scans_max = db.scalar(select(func.max(Scan.id))) or 0
            rev = control.revocation_version(db)
            dead = dead_letters.count(db)
        bridges = health.reports()
        per_bridge = lambda key: [({"bridge": b["client_id"]}, b[key] or 0) for b in bridges]  # noqa: E731
        extra = {
            "greengate_devices": ("gauge", "Registered devices by connection state.",
                                  [({"state": "online"}, online), ({"state": "offline"}, total - online)]),
            "greengate_alerts_open": ("gauge", "Unacknowledged alerts by kind.",
                                      [({"kind": k}, n) for k, n in open_alerts]),
            "greengate_control_outbox_pending": ("gauge", "Control messages not yet published.",
                                                 [({}, pending)]),
            "greengate_revocation_version": ("gauge", "Current revocation list version.", [({}, rev)]),
            "greengate_scan_rows": ("gauge", "Highest scan row id (approximate row count).",
                                    [({}, scans_max)]),
            "greengate_dead_letters": ("gauge", "Device messages set aside (dead-letter rows).",
                                       [({}, dead)]),
            "greengate_bridge_up": ("gauge", "1 while the bridge makes progress, 0 when failing.",
                                    [({"bridge": b["client_id"]}, 0 if b["problem"] else 1) for b in bridges]),
            "greengate_bridge_last_commit_age_seconds": ("gauge", "Seconds since the last ingest commit.",
                                                         per_bridge("last_commit_age_s")),
            "greengate_bridge_oldest_pending_seconds": ("gauge", "Age of the oldest uncommitted message.",
                                                        per_bridge("oldest_pending_s")),
            "greengate_bridge_consecutive_failures": ("gauge", "Failed ingest transactions in a row.",
                                                      per_bridge("consecutive_failures")),
        }
        return PlainTextResponse(REGISTRY.render(extra), media_type="text/plain; version=0.0.4")

    return app
