"""The few fleet API calls the demo makes, as an operator (or a business
manager) would: a bearer token from POST /api/v1/login, JSON in and out."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The fleet refused a call; the message carries its problem document."""


class FleetApi:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url + "/api/v1", timeout=timeout)
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def login(self, username: str, password: str) -> "FleetApi":
        self.token = self.call("POST", "/login", json={"username": username, "password": password})["token"]
        self.http.cookies.clear()  # bearer only: no CSRF dance
        return self

    def as_user(self, username: str, password: str) -> "FleetApi":
        return FleetApi(self.base_url, self.http.timeout.read or 30.0).login(username, password)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        r = self.http.request(method, path, headers=headers, **kw)
        if r.status_code >= 400:
            raise ApiError(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
        if r.headers.get("content-type", "").startswith("application/json") or \
                r.headers.get("content-type", "").startswith("application/problem+json"):
            return r.json()
        return r.content

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict | None = None) -> Any:
        return self.call("POST", path, json=body if body is not None else {})
