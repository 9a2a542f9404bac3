"""HTTP hardening shared by the API and the dashboard: security headers on
every response, the API documentation and /metrics behind a log-in (or a
setting), and the uvicorn options the service runs with.

The dashboard has no inline script or style (scripts are files under
/ui/static), so its Content-Security-Policy is strict. Only /docs and /redoc
load the Swagger UI / ReDoc bundles from their CDN: those two pages carry
their own policy (the inline Swagger start-up script by its hash).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleet.core import errors
from fleet.core.config import Settings

from .deps import get_current_user

# uvicorn's own X-Forwarded-For handling trusts 127.0.0.1 by default: off.
# The app decides which peers are proxies (deps.client_address).
UVICORN_OPTIONS = {"log_level": "warning", "proxy_headers": False, "server_header": False}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"
_CDN = "https://cdn.jsdelivr.net"
_FIXED = ((b"x-content-type-options", b"nosniff"),
          (b"referrer-policy", b"same-origin"),
          (b"x-frame-options", b"DENY"),
          (b"cross-origin-opener-policy", b"same-origin"))


class SecurityHeaders:
    """Pure ASGI (streams, e.g. the Server-Sent Events feed, pass untouched):
    adds the headers to every HTTP response; a response that set its own
    Content-Security-Policy keeps it."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.hsts or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers.extend(h for h in _FIXED if h[0] not in present)
                if https:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _script_hashes(html: str) -> str:
    return " ".join("'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                    for s in re.findall(r"<script>(.*?)</script>", html, re.S))


def _docs_policy(html: str) -> str:
    return (f"default-src 'none'; script-src {_CDN} {_script_hashes(html)}; "
            f"style-src {_CDN} https://fonts.googleapis.com 'unsafe-inline'; "
            "font-src https://fonts.gstatic.com; img-src 'self' data: https:; "
            "connect-src 'self'; worker-src blob:; base-uri 'none'; frame-ancestors 'none'")


def operator_or_setting(allow) -> object:  # noqa: ANN001
    """Dependency: passes when `allow(request, settings)` says so, else needs an
    admin/operator log-in."""

    def check(request: Request) -> None:
        settings: Settings = request.app.state.settings
        if allow(request, settings):
            return
        with request.app.state.sessions() as db:
            role = get_current_user(request, db, settings).role
        if role not in ("admin", "operator"):
            raise errors.Forbidden("admin or operator only / chỉ quản trị viên hoặc điều hành viên",
                                   code="ROLE")

    return Depends(check)


def _scrape_token_ok(request: Request, settings: Settings) -> bool:
    auth = request.headers.get("authorization", "")
    return bool(settings.metrics_token) and auth.lower().startswith("bearer ") and \
        hmac.compare_digest(auth[7:].strip().encode(), settings.metrics_token.encode())


# /metrics: the Prometheus scrape token (GREENGATE_METRICS_TOKEN) or a log-in
MetricsAccess = operator_or_setting(_scrape_token_ok)
DocsAccess = operator_or_setting(lambda request, settings: settings.public_api_docs)


def install(app: FastAPI, settings: Settings) -> None:
    """Headers on every response; /openapi.json, /docs, /redoc behind DocsAccess.
    Create the app with openapi_url/docs_url/redoc_url None."""
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)
    title = app.title + " - API"

    @app.get("/openapi.json", include_in_schema=False, dependencies=[DocsAccess])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[DocsAccess])
    def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=title)
        page.headers["content-security-policy"] = _docs_policy(page.body.decode())
        return page

    @app.get("/redoc", include_in_schema=False, dependencies=[DocsAccess])
    def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url="/openapi.json", title=title)
        page.headers["content-security-policy"] = _docs_policy(page.body.decode())
        return page

