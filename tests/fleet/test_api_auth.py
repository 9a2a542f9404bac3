"""Login, sessions, CSRF, users, problem responses, OpenAPI, metrics."""



def test_login_bad_credentials_and_bad_body(api):
    c = api.client
    r = c.post("/api/v1/login", json={"username": "admin", "password": "wrong"})
    assert r.status_code == 401 and r.json()["title"] == "BAD_CREDENTIALS"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = c.post("/api/v1/login", json={"username": "admin"})
    assert r.status_code == 422 and r.json()["title"] == "VALIDATION"
    r = c.post("/api/v1/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert c.get("/api/v1/me").status_code == 401
    assert c.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_me_and_logout_invalidates_token(api):
    r = api.as_("manager").get("/api/v1/me")
    assert r.json()["role"] == "manager" and r.json()["business_id"] == "B1"
    assert api.as_("manager").post("/api/v1/logout").status_code == 204
    assert api.as_("manager").get("/api/v1/me").status_code == 401


def test_cookie_session_requires_csrf_for_unsafe_methods(api, settings):
    c = api.client
    c.cookies.clear()
    r = c.post("/api/v1/login", json={"username": "operator", "password": "operator-password-1"})
    csrf = r.json()["csrf_token"]
    assert "gg_session" in c.cookies
    assert c.get("/api/v1/me").status_code == 200  # safe: cookie alone is enough
    body = {"business_id": "B1", "name": "Cổng phụ"}
    r = c.post("/api/v1/sites", json=body)
    assert r.status_code == 403 and r.json()["title"] == "CSRF"
    r = c.post("/api/v1/sites", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403
    r = c.post("/api/v1/sites", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    c.cookies.clear()


def test_users_admin_only_and_validation(api):
    body = {"username": "op2", "password": "op2-password-x", "role": "operator"}
    for role in ("operator", "manager", "viewer"):
        assert api.as_(role).post("/api/v1/users", json=body).status_code == 403
        assert api.as_(role).get("/api/v1/users").status_code == 403
    assert api.as_("admin").post("/api/v1/users", json=body).status_code == 201
    assert api.as_("admin").post("/api/v1/users", json=body).json()["title"] == "USER_EXISTS"
    r = api.as_("admin").post("/api/v1/users", json={**body, "username": "mgr9", "role": "manager"})
    assert r.status_code == 400 and r.json()["title"] == "BAD_BUSINESS"
    r = api.as_("admin").post("/api/v1/users", json={**body, "username": "x", "role": "god"})
    assert r.status_code == 422
    r = api.as_("admin").post("/api/v1/users", json={**body, "username": "short", "password": "123"})
    assert r.status_code == 422
    names = [u["username"] for u in api.as_("admin").get("/api/v1/users").json()]
    assert {"admin", "operator", "manager", "viewer", "op2"} <= set(names)


def test_openapi_metrics_health(api):
    # refused without a log-in (issue 10 finding 7), and to roles below operator
    for path in ("/openapi.json", "/docs", "/redoc", "/metrics"):
        assert api.client.get(path).status_code == 401, path
        assert api.as_("viewer").get(path).status_code == 403, path
        assert api.as_("operator").get(path).status_code == 200, path
    spec = api.as_("admin").get("/openapi.json").json()
    for path in ("/api/v1/login", "/api/v1/f0", "/api/v1/devices/register", "/metrics"):
        assert path in spec["paths"]
    assert api.client.get("/healthz").json() == {"ok": True}  # stays open
    text = api.as_("admin").get("/metrics").text
    assert "# TYPE greengate_http_requests_total counter" in text
    assert 'greengate_devices{state="online"} 0' in text
    assert "greengate_control_outbox_pending" in text


def test_metrics_scrape_token_and_public_docs_setting(settings, session_factory):
    from fastapi.testclient import TestClient

    from fleet.api.main import create_app

    s = settings.model_copy(update={"metrics_token": "scrape-token-0123456789",
                                    "public_api_docs": True})
    with TestClient(create_app(s, sessions=session_factory)) as c:
        assert c.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"}
                     ).status_code == 200
        assert c.get("/metrics", headers={"Authorization": "Bearer scrape-token-012345678"}
                     ).status_code == 401
        assert c.get("/metrics").status_code == 401
        assert c.get("/openapi.json").status_code == 200 and c.get("/docs").status_code == 200


def test_security_headers_on_every_response(api, settings, session_factory):
    from fastapi.testclient import TestClient

    from fleet.api.main import create_app

    for r in (api.client.get("/healthz"), api.client.get("/nope"),
              api.as_("admin").get("/api/v1/users"), api.client.post("/api/v1/login", json={})):
        h = r.headers
        assert "default-src 'none'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "unsafe-inline" not in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin" and h["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in h  # plain http, setting off
    docs = api.as_("admin").get("/docs").headers["content-security-policy"]
    assert "'sha256-" in docs and "unsafe-inline" not in docs.split("style-src")[0]
    with TestClient(create_app(settings.model_copy(update={"hsts": True}),
                               sessions=session_factory)) as c:
        assert c.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_unknown_route_is_a_problem(api):
    r = api.client.get("/api/v1/nope")
    assert r.status_code == 404 and r.json()["title"] == "NOT_FOUND"


def test_audit_log_records_and_is_district_only(api):
    assert api.as_("manager").get("/api/v1/audit").status_code == 403
    assert api.as_("viewer").get("/api/v1/audit").status_code == 403
    actions = [a["action"] for a in api.as_("operator").get("/api/v1/audit").json()]
    assert "business.create" in actions and "business.approved" in actions and "user.login" in actions


def test_json_logs_carry_no_personal_data(api, caplog):
    import json
    import logging

    from fleet.core.logging import JsonFormatter, log

    caplog.set_level(logging.INFO, logger="greengate")
    r = api.as_("operator").post("/api/v1/passes", json={
        "role": 0, "initials": "ĐTH", "birth_year": 1961, "valid_days": 5})
    assert r.status_code == 201
    api.client.post("/api/v1/login", json={"username": "operator", "password": "operator-password-1"})
    log(logging.getLogger("greengate.test"), "probe", initials="ĐTH", qr_text="GG1:X", pass_hash="ab" * 16)
    lines = [JsonFormatter().format(rec) for rec in caplog.records if rec.name.startswith("greengate")]
    assert any(json.loads(line)["event"] == "http" for line in lines)
    text = "\n".join(lines)
    for secret in ("ĐTH", "1961", "GG1:", "operator-password-1", r.json()["qr_text"][:20]):
        assert secret not in text
    probe = json.loads(lines[-1])
    assert probe["pass_hash"] == "ab" * 16 and "initials" not in probe and "qr_text" not in probe


def slow_throttle(api, settings):
    """A wait far longer than the test: throttled answers do not depend on its speed."""
    api.client.app.state.settings = settings.model_copy(update={"login_delay_base_s": 600.0})
    return api.client.app.state.settings


def test_login_throttle_per_user_and_address(api, settings):
    settings = slow_throttle(api, settings)
    c = api.client
    c.cookies.clear()
    good = {"username": "viewer", "password": "viewer-password-1"}
    bad = {"username": "viewer", "password": "nope-nope-nope"}
    for _ in range(settings.login_user_failures):
        assert c.post("/api/v1/login", json=bad).status_code == 401
    r = c.post("/api/v1/login", json=good)  # right password, but this pair must wait now
    assert r.status_code == 429 and r.json()["title"] == "TOO_MANY_ATTEMPTS"
    wait = int(r.headers["Retry-After"])
    assert 0 < wait <= settings.login_delay_max_s and r.json()["retry_after_s"] == wait
    assert "giây" in r.json()["detail"] and " s " in r.json()["detail"]
    # another user from the same client is not held up by viewer's failures
    assert c.post("/api/v1/login", json={"username": "operator",
                                         "password": "operator-password-1"}).status_code == 200


def test_login_throttle_delays_grow_expire_and_success_clears(api, settings, session_factory):
    import datetime as dt

    from fleet.models import LoginThrottle, utcnow
    from fleet.services.throttle import delay_s

    free = settings.login_user_failures
    assert [delay_s(settings, k, free) for k in (free - 1, free, free + 1, free + 2)] == \
        [0, settings.login_delay_base_s, 2 * settings.login_delay_base_s,
         4 * settings.login_delay_base_s]
    assert delay_s(settings, free + 100, free) == settings.login_delay_max_s
    c = api.client
    c.cookies.clear()
    bad = {"username": "manager", "password": "nope-nope-nope"}
    good = {"username": "manager", "password": "manager-password-1"}
    key = "pair:testclient manager"
    for _ in range(free):
        c.post("/api/v1/login", json=bad)
    with session_factory() as db:  # the wait has passed: one more try, then a longer wait
        row = db.get(LoginThrottle, key)
        assert row.failures == free and row.blocked_until is not None
        row.blocked_until = utcnow() - dt.timedelta(seconds=1)
        db.commit()
    assert c.post("/api/v1/login", json=bad).status_code == 401
    with session_factory() as db:
        row = db.get(LoginThrottle, key)
        assert row.failures == free + 1
        assert row.blocked_until - row.last_failure_at == dt.timedelta(
            seconds=2 * settings.login_delay_base_s)
        # a quiet window forgets the failures
        row.last_failure_at = utcnow() - dt.timedelta(seconds=settings.login_window_s + 1)
        row.blocked_until = utcnow() - dt.timedelta(seconds=1)
        db.commit()
    assert c.post("/api/v1/login", json=bad).status_code == 401  # a new window: 1 failure
    with session_factory() as db:
        assert db.get(LoginThrottle, key).failures == 1
    assert c.post("/api/v1/login", json=good).status_code == 200
    with session_factory() as db:
        assert db.get(LoginThrottle, key) is None  # success cleared the pair


def test_login_throttle_per_client_address(api, settings, session_factory):
    from fleet.models import LoginThrottle

    settings = slow_throttle(api, settings)
    c = api.client
    c.cookies.clear()
    with session_factory() as db:
        before = db.get(LoginThrottle, "ip:testclient")
        before = before.failures if before else 0  # the fixture's own log-ins were forgiven
    assert before == 0
    for i in range(settings.login_ip_failures):  # one failure each for many usernames
        assert c.post("/api/v1/login", json={"username": f"guess{i}",
                                             "password": "nope-nope-nope"}).status_code == 401
    r = c.post("/api/v1/login", json={"username": "operator", "password": "operator-password-1"})
    assert r.status_code == 429
    with session_factory() as db:
        row = db.get(LoginThrottle, "ip:testclient")
        assert row.failures == settings.login_ip_failures and row.blocked_until is not None


def test_proxy_and_scrape_token_settings_are_checked_at_start():
    import pytest

    from fleet.core.config import Settings

    for bad in ({"trusted_proxies": ["not-an-address"]}, {"metrics_token": "short"}):
        with pytest.raises(ValueError):
            Settings(demo=True, **bad)
    s = Settings(demo=True, trusted_proxies=["10.0.0.0/8", "::1"], metrics_token="t" * 16)
    assert s.trusted_proxies == ["10.0.0.0/8", "::1"] and not s.hsts and not s.public_api_docs
