import pytest
from pydantic import ValidationError

from fleet.core import errors, security
from fleet.core.config import Settings, normalise_db_url
from fleet.core.metrics import Registry


def test_settings_refuse_default_secrets_outside_demo(monkeypatch):
    monkeypatch.delenv("GREENGATE_DEMO", raising=False)
    with pytest.raises(ValidationError) as e:
        Settings()
    assert "GREENGATE_SECRET_KEY" in str(e.value)
    with pytest.raises(ValidationError):
        Settings(secret_key="x" * 32, admin_password="changethis")
    s = Settings(secret_key="x" * 32, admin_password="a-long-password")
    assert not s.demo


def test_settings_allow_defaults_in_demo_and_read_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GREENGATE_DEMO", "1")
    monkeypatch.setenv("GREENGATE_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.demo
    assert s.db_url == f"sqlite:///{tmp_path / 'fleet.db'}"
    monkeypatch.setenv("GREENGATE_DATABASE_URL", "postgresql://u:p@h/db")
    assert Settings().db_url == "postgresql+psycopg://u:p@h/db"


def test_normalise_db_url():
    assert normalise_db_url("postgres://a/b") == "postgresql+psycopg://a/b"
    assert normalise_db_url("sqlite:///x.db") == "sqlite:///x.db"


def test_password_hash_and_csrf():
    h = security.hash_password("mật khẩu dài")
    assert h.startswith("$argon2id$")
    assert security.verify_password(h, "mật khẩu dài")
    assert not security.verify_password(h, "wrong")
    assert not security.verify_password("not-a-hash", "x")
    tok = security.new_token()
    c = security.csrf_token("k" * 20, tok)
    assert security.csrf_ok("k" * 20, tok, c)
    assert not security.csrf_ok("k" * 20, tok, c[:-1] + ("0" if c[-1] != "0" else "1"))
    assert not security.csrf_ok("k" * 20, security.new_token(), c)
    assert not security.csrf_ok("k" * 20, tok, None)


def test_error_tree_problem_bodies():
    e = errors.Forbidden("nope", business_id="B1")
    assert isinstance(e, errors.FleetError)
    p = e.problem()
    assert p["status"] == 403 and p["title"] == "FORBIDDEN" and p["business_id"] == "B1"
    assert errors.CsrfError().problem()["title"] == "CSRF"
    assert errors.Conflict("x", code="ALREADY_REVOKED").code == "ALREADY_REVOKED"


def test_metrics_text_format():
    r = Registry()
    r.describe("x_total", "counter", "X.")
    r.inc("x_total", route='/a"b')
    r.inc("x_total", 2, route='/a"b')
    out = r.render({"g": ("gauge", "G.", [({"k": "v"}, 3.5)])})
    assert '# TYPE x_total counter\nx_total{route="/a\\"b"} 3\n' in out
    assert 'g{k="v"} 3.5' in out
