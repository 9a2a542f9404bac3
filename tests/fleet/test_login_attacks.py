"""Issue 10 finding 6, as an attacker would try it: the log-in throttle
against parallel guesses, against locking the admin out, and against a
spoofed X-Forwarded-For. The real app under real uvicorn (the options
`greengate fleet serve` uses), real SQLite / PostgreSQL, real HTTP from
threads; clients on different loopback addresses (127.0.0.2, ...) are
different peers to the server."""

from __future__ import annotations

import contextlib
import threading

import httpx
import pytest
from sqlalchemy import select

from brokers import free_port
from fleet_helpers import wait_until

BAD = "wrong-password-0"


@contextlib.contextmanager
def served(settings, session_factory):
    import uvicorn

    from fleet.api.hardening import UVICORN_OPTIONS
    from fleet.api.main import create_app

    app = create_app(settings, sessions=session_factory)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def client_from(base: str, local: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(base_url=base, timeout=120,
                        transport=httpx.HTTPTransport(local_address=local))


def login(c: httpx.Client, user: str, password: str, **headers) -> httpx.Response:
    return c.post("/api/v1/login", json={"username": user, "password": password}, headers=headers)


@pytest.fixture
def counted_verifications(monkeypatch):
    """Every password verification the service makes, through the real function."""
    from fleet.core import security

    real = security.verify_password
    calls = []
    lock = threading.Lock()

    def counting(password_hash, password):
        with lock:
            calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(security, "verify_password", counting)
    return calls


def test_parallel_guesses_are_checked_at_most_the_free_count(settings, session_factory,
                                                              counted_verifications):
    # a delay far longer than the test: only the free failures may be checked
    settings = settings.model_copy(update={"login_delay_base_s": 3600.0})
    n = 30
    with served(settings, session_factory) as base:
        counted_verifications.clear()  # the admin's creation at start-up hashed, not verified
        start = threading.Barrier(n)
        statuses: list[int] = []

        def guess(i: int) -> None:
            with client_from(base) as c:
                start.wait()
                r = login(c, settings.admin_username, f"{BAD}{i}")
                statuses.append(r.status_code)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert sorted(statuses) == [401] * settings.login_user_failures + \
            [429] * (n - settings.login_user_failures)
        assert len(counted_verifications) == settings.login_user_failures
        # and the throttled pair waits even with the right password
        with client_from(base) as c:
            r = login(c, settings.admin_username, settings.admin_password)
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 60
        assert len(counted_verifications) == settings.login_user_failures


def test_anonymous_guesses_do_not_lock_the_admin_out(settings, session_factory):
    settings = settings.model_copy(update={"login_delay_base_s": 3600.0})
    with served(settings, session_factory) as base:
        with client_from(base, "127.0.0.2") as attacker:
            for i in range(settings.login_user_failures + 3):
                r = login(attacker, settings.admin_username, f"{BAD}{i}")
                assert r.status_code == (401 if i < settings.login_user_failures else 429)
            assert login(attacker, settings.admin_username, BAD).status_code == 429
        with client_from(base, "127.0.0.1") as admin:
            r = login(admin, settings.admin_username, settings.admin_password)
            assert r.status_code == 200, r.text


def test_address_guessing_many_users_is_throttled(settings, session_factory):
    settings = settings.model_copy(update={"login_ip_failures": 8, "login_delay_base_s": 3600.0})
    with served(settings, session_factory) as base:
        with client_from(base, "127.0.0.3") as attacker:
            for i in range(settings.login_ip_failures):
                assert login(attacker, f"user{i}", BAD).status_code == 401
            r = login(attacker, settings.admin_username, settings.admin_password)
            assert r.status_code == 429
        with client_from(base, "127.0.0.1") as admin:  # another address is not affected
            assert login(admin, settings.admin_username, settings.admin_password).status_code == 200


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(settings, session_factory):
    from fleet.models import LoginThrottle

    settings = settings.model_copy(update={"login_ip_failures": 6, "login_delay_base_s": 3600.0})
    with served(settings, session_factory) as base, client_from(base) as c:
        # a local client rotating X-Forwarded-For to look like many addresses
        for i in range(settings.login_ip_failures):
            r = login(c, f"user{i}", BAD, **{"X-Forwarded-For": f"198.51.100.{i}"})
            assert r.status_code == 401
        r = login(c, "user-next", BAD, **{"X-Forwarded-For": "198.51.100.99"})
        assert r.status_code == 429
    with session_factory() as db:
        keys = set(db.scalars(select(LoginThrottle.key)))
    assert "ip:127.0.0.1" in keys and not any("198.51.100" in k for k in keys)


def test_forwarded_for_from_a_configured_proxy_names_the_client(settings, session_factory):
    from fleet.models import LoginThrottle

    settings = settings.model_copy(update={"trusted_proxies": ["127.0.0.0/30"]})
    with served(settings, session_factory) as base, client_from(base, "127.0.0.2") as proxy:
        # the client wrote the left part itself; the proxy appended its peer
        r = login(proxy, "someone", BAD, **{"X-Forwarded-For": "192.0.2.1, 203.0.113.7"})
        assert r.status_code == 401
    with session_factory() as db:
        keys = set(db.scalars(select(LoginThrottle.key)))
    assert keys == {"ip:203.0.113.7", "pair:203.0.113.7 someone"}


@pytest.mark.parametrize(("peer", "headers", "expected"), [
    ("127.0.0.2", [], "127.0.0.2"),                                   # no header: the peer
    ("198.51.100.9", [("x-forwarded-for", "203.0.113.7")], "198.51.100.9"),  # not a proxy
    ("127.0.0.2", [("x-forwarded-for", "203.0.113.7")], "203.0.113.7"),
    ("127.0.0.2", [("x-forwarded-for", "1.1.1.1, 203.0.113.7")], "203.0.113.7"),  # left: client's
    ("127.0.0.2", [("x-forwarded-for", "203.0.113.7, 127.0.0.1")], "203.0.113.7"),  # proxy chain
    ("127.0.0.2", [("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "2001:db8::7")],
     "2001:db8::7"),                                                  # repeated header
    ("127.0.0.2", [("x-forwarded-for", "not-an-ip, <script>")], "127.0.0.2"),  # garbage
    ("127.0.0.2", [("x-forwarded-for", "9.9.9.9, x" * 2000)], "127.0.0.2"),  # long garbage
    ("127.0.0.2", [("x-forwarded-for", " , ,")], "127.0.0.2"),
])
def test_client_address_from_hostile_forwarded_for(peer, headers, expected):
    from types import SimpleNamespace

    from starlette.requests import Request

    from fleet.api.deps import client_address
    from fleet.core.config import Settings

    s = Settings(demo=True, trusted_proxies=["127.0.0.0/30"])
    app = SimpleNamespace(state=SimpleNamespace(settings=s))
    scope = {"type": "http", "method": "POST", "path": "/", "app": app, "client": (peer, 5000),
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    assert client_address(Request(scope)) == expected
