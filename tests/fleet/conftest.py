"""Fleet test fixtures: databases (SQLite file and, when GREENGATE_TEST_PG_URL is
set by scripts/test, PostgreSQL), settings, an API client per role."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_helpers import BUSINESS, Api  # noqa: E402

from fleet.core.config import Settings, normalise_db_url
from fleet.core.db import make_engine, make_sessionmaker



def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


PG_URL = os.environ.get("GREENGATE_TEST_PG_URL")
PG_SKIP = "GREENGATE_TEST_PG_URL is not set (scripts/test sets it after starting PostgreSQL)"

DB_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("pg", id="pg", marks=pytest.mark.skipif(not PG_URL, reason=PG_SKIP)),
]


def reset_pg(url: str) -> None:
    engine = make_engine(normalise_db_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def fresh_db_url(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'fleet.db'}"
    reset_pg(PG_URL)
    return normalise_db_url(PG_URL)


@pytest.fixture(params=DB_PARAMS)
def db_url(request, tmp_path) -> str:
    return fresh_db_url(request.param, tmp_path)


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(demo=True, database_url=db_url, data_dir=tmp_path / "data",
                    admin_password="admin-password-1",
                    argon2_time_cost=1, argon2_memory_kib=1024)  # fast hashes for tests


@pytest.fixture
def engine(settings):
    from fleet.models import Base

    eng = make_engine(settings.db_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine):
    return make_sessionmaker(engine)


@pytest.fixture
def api(settings, session_factory):
    """App on a fresh database with businesses B1 (approved, one site) and B2,
    and users admin / operator / manager (of B1) / viewer, all logged in."""
    from fastapi.testclient import TestClient

    from fleet.api.main import create_app

    app = create_app(settings, sessions=session_factory)
    with TestClient(app) as client:
        login = lambda u, p: client.post("/api/v1/login", json={"username": u, "password": p})  # noqa: E731
        admin = login("admin", settings.admin_password).json()["token"]
        h = {"Authorization": f"Bearer {admin}"}
        for bid in ("B1", "B2"):
            assert client.post("/api/v1/businesses", json={**BUSINESS, "id": bid}, headers=h).status_code == 201
            assert client.post(f"/api/v1/businesses/{bid}/approve", headers=h).status_code == 200
            assert client.post("/api/v1/sites", json={"business_id": bid, "name": f"Cổng {bid}"},
                               headers=h).status_code == 201
        tokens = {"admin": admin}
        for role, bid in (("operator", None), ("manager", "B1"), ("viewer", None)):
            r = client.post("/api/v1/users", headers=h, json={
                "username": role, "password": f"{role}-password-1", "role": role, "business_id": bid})
            assert r.status_code == 201, r.text
            tokens[role] = login(role, f"{role}-password-1").json()["token"]
        client.cookies.clear()  # tests choose bearer or cookie explicitly
        yield Api(client, tokens)
