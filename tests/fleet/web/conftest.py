"""Dashboard fixtures: fleet's own app (create_app) with the dashboard router
mounted, businesses B1/B2 with a site and a gate each, and one logged-in
browser-like client per role (cookie session + CSRF token from the page)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web_helpers import ROLES, Browser, make_app, password_for, seed  # noqa: E402


@pytest.fixture
def web(settings, session_factory):
    """(app, sites, browsers): one logged-in Browser per role, plus an
    anonymous one under the key None."""
    from fastapi.testclient import TestClient

    with session_factory() as db:
        sites = seed(db, settings)
    app = make_app(settings, session_factory)
    clients = []
    browsers = {}
    try:
        for role in (*ROLES, None):
            client = TestClient(app, base_url="http://testserver")
            client.__enter__()
            clients.append(client)
            b = Browser(client)
            if role:
                r = b.login(role, password_for(role, settings))
                assert r.status_code == 303, r.text
            browsers[role] = b
        yield app, sites, browsers
    finally:
        for c in clients:
            c.__exit__(None, None, None)
