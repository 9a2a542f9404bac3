"""The users page (admins only) and every user's own account page: create,
deactivate / activate, reset password, change role / business / language
through the forms, checked in the database; the self and CSRF refusals; both
languages."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from web_helpers import Browser

from fleet.models import AuditLog, User, UserSession


def user_row(session_factory, username: str) -> User | None:
    with session_factory() as db:
        return db.scalar(select(User).where(User.username == username))


def fresh_login(app, username: str, password: str):
    """A new browser logging in: (Browser, response, client to close)."""
    client = TestClient(app, base_url="http://testserver")
    client.__enter__()
    b = Browser(client)
    return b, b.login(username, password), client


def test_nav_entry_for_admins_only(web):
    _, _, b = web
    assert 'href="/ui/users"' in b["admin"].get("/ui/").text
    for role in ("operator", "manager", "viewer"):
        page = b[role].get("/ui/").text
        assert 'href="/ui/users"' not in page, role
        assert 'href="/ui/account"' in page, role  # everyone has their own account page


def test_list_filters_and_languages(web, session_factory):
    _, _, b = web
    a = b["admin"]
    page = a.get("/ui/users").text
    assert "Người dùng" in page and "Quản lý doanh nghiệp" in page and "Đang hoạt động" in page
    for name in ("admin", "operator", "manager", "viewer"):
        assert f'data-user="{name}"' in page
    assert 'href="/ui/businesses/B1">B1' in page and "Thêm người dùng" in page
    managers = a.get("/ui/users?role=manager").text
    assert 'data-user="manager"' in managers and 'data-user="operator"' not in managers
    assert "Tổng 1" in managers
    with session_factory() as db:
        db.scalar(select(User).where(User.username == "viewer")).active = False
        db.commit()
    off = a.get("/ui/users?active=0").text
    assert 'data-user="viewer"' in off and 'data-user="admin"' not in off and "Đã khoá" in off
    assert 'data-user="viewer"' not in a.get("/ui/users?active=1").text
    found = a.get("/ui/users?q=B1").text
    assert 'data-user="manager"' in found and 'data-user="viewer"' not in found
    assert "Tổng 0" in a.get("/ui/users?q=%25").text  # a literal %, not a wildcard
    assert "Tổng 4" in a.get("/ui/users?role=god&active=x&page=x").text  # bad filters ignored
    en = a.get("/ui/users?lang=en").text
    assert "New user" in en and "Business manager" in en and "Deactivated" in en
    assert "Deactivate" in en and 'lang="en"' in en


def test_create_user_through_the_form(web, session_factory):
    app, _, b = web
    a = b["admin"]
    r = a.post("/ui/users", {"username": "nv.phuong", "password": "Phường-Tân-Phong-1",
                             "role": "manager", "business_id": "B1", "language": "en"})
    assert r.status_code == 303
    u = user_row(session_factory, "nv.phuong")
    assert (u.role, u.business_id, u.language, u.active) == ("manager", "B1", "en", True)
    assert r.headers["location"] == f"/ui/users/{u.id}?ok=user.created"
    assert "Đã tạo người dùng." in a.get(r.headers["location"]).text
    # The business field counts for managers only.
    assert a.post("/ui/users", {"username": "op.two", "password": "operator-two-pw", "role": "operator",
                                "business_id": "B1"}).status_code == 303
    assert user_row(session_factory, "op.two").business_id is None
    with session_factory() as db:
        row = db.scalar(select(AuditLog).where(AuditLog.action == "user.create",
                                               AuditLog.target_id == str(u.id)))
        assert row.actor == "admin" and row.detail == {"role": "manager", "business_id": "B1"}
    nb, resp, client = fresh_login(app, "nv.phuong", "Phường-Tân-Phong-1")
    try:
        assert resp.status_code == 303
        assert "Fleet overview" in nb.get("/ui/").text  # its own language
    finally:
        client.__exit__(None, None, None)


def test_create_errors_are_clear_in_both_languages(web, session_factory):
    _, _, b = web
    a = b["admin"]
    base = {"username": "nv.lan", "password": "long-enough-pw", "role": "viewer"}
    r = a.post("/ui/users", {**base, "password": "short"})
    assert r.status_code == 400 and "Mật khẩu phải có ít nhất 10 ký tự." in r.text
    r = a.post("/ui/users", {**base, "username": "viewer"})
    assert r.status_code == 409 and "Tên đăng nhập này đã tồn tại." in r.text
    r = a.post("/ui/users", {**base, "role": "manager"})
    assert r.status_code == 400 and "Quản lý doanh nghiệp cần mã của một doanh nghiệp có thật" in r.text
    r = a.post("/ui/users", {**base, "role": "manager", "business_id": "NOPE"})
    assert r.status_code == 400 and "BAD_BUSINESS" in r.text
    assert a.post("/ui/users", {**base, "username": "x y"}).status_code == 400
    assert a.post("/ui/users", {**base, "role": "god"}).status_code == 400
    a.get("/ui/users?lang=en")
    r = a.post("/ui/users", {**base, "password": "short"})
    assert r.status_code == 400 and "The password must be at least 10 characters." in r.text
    assert user_row(session_factory, "nv.lan") is None


def test_deactivate_and_activate(web, session_factory):
    _, _, b = web
    a, v = b["admin"], b["viewer"]
    vid = user_row(session_factory, "viewer").id
    assert v.get("/ui/").status_code == 200
    r = a.post(f"/ui/users/{vid}/active", {"active": "0"})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/users/{vid}?ok=user.deactivated"
    assert user_row(session_factory, "viewer").active is False
    # Its open dashboard session is refused at once.
    r = v.get("/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    with session_factory() as db:
        assert db.scalar(select(UserSession).where(UserSession.user_id == vid)) is None
    page = a.get(f"/ui/users/{vid}?ok=user.deactivated").text
    assert "Đã khoá tài khoản; mọi phiên đăng nhập của tài khoản đã kết thúc." in page
    assert "<code>user.deactivate</code>" in page and "Mở khoá tài khoản" in page
    assert a.post(f"/ui/users/{vid}/active", {"active": "1"}).status_code == 303
    assert user_row(session_factory, "viewer").active is True
    assert a.post(f"/ui/users/{vid}/active", {"active": "maybe"}).status_code == 400
    assert a.post("/ui/users/999/active", {"active": "0"}).status_code == 404
    assert a.get("/ui/users/999").status_code == 404
    assert a.get("/ui/users/99999999999999").status_code == 404


def test_reset_password(web, session_factory, settings):
    app, _, b = web
    a, op = b["admin"], b["operator"]
    oid = user_row(session_factory, "operator").id
    r = a.post(f"/ui/users/{oid}/password", {"password": "Mật khẩu tạm 2021"})
    assert r.status_code == 303 and r.headers["location"].endswith("ok=user.password_reset")
    assert op.get("/ui/", follow_redirects=False).status_code == 303  # logged out
    for password, status in (("operator-password-1", 401), ("Mật khẩu tạm 2021", 303)):
        _, resp, client = fresh_login(app, "operator", password)
        client.__exit__(None, None, None)
        assert resp.status_code == status, password
    r = a.post(f"/ui/users/{oid}/password", {"password": "123"})
    assert r.status_code == 400 and "Mật khẩu phải có ít nhất 10 ký tự." in r.text
    with session_factory() as db:
        details = [a.detail for a in db.scalars(select(AuditLog).where(
            AuditLog.action == "user.password_reset"))]
    assert details == [{"sessions_ended": 1}]


def test_change_role_business_language(web, session_factory):
    _, _, b = web
    a = b["admin"]
    oid = user_row(session_factory, "operator").id
    r = a.post(f"/ui/users/{oid}/update", {"role": "manager", "business_id": "B2", "language": "en"})
    assert r.status_code == 303 and r.headers["location"].endswith("ok=user.updated")
    u = user_row(session_factory, "operator")
    assert (u.role, u.business_id, u.language) == ("manager", "B2", "en")
    # Operator pages are closed to it now, its own business is open.
    assert b["operator"].get("/ui/f0").status_code == 403
    assert b["operator"].get("/ui/businesses/B2").status_code == 200
    # A non-manager role drops the business even if the field still holds one.
    assert a.post(f"/ui/users/{oid}/update", {"role": "viewer", "business_id": "B2"}).status_code == 303
    u = user_row(session_factory, "operator")
    assert (u.role, u.business_id, u.language) == ("viewer", None, "en")
    r = a.post(f"/ui/users/{oid}/update", {"role": "manager", "business_id": ""})
    assert r.status_code == 400 and "BAD_BUSINESS" in r.text
    assert a.post(f"/ui/users/{oid}/update", {"language": "xx"}).status_code == 400
    page = a.get(f"/ui/users/{oid}").text
    assert "<code>user.role</code>" in page and "<code>user.language</code>" in page


def test_admin_cannot_lock_itself_out(web, session_factory):
    _, _, b = web
    a = b["admin"]
    me = user_row(session_factory, "admin").id
    page = a.get(f"/ui/users/{me}").text
    assert "Đây là tài khoản của bạn" in page and f"/ui/users/{me}/password" not in page
    r = a.post(f"/ui/users/{me}/active", {"active": "0"})
    assert r.status_code == 409 and "Bạn không thể tự khoá tài khoản của mình." in r.text
    r = a.post(f"/ui/users/{me}/update", {"role": "operator"})
    assert r.status_code == 409 and "Bạn không thể tự bỏ quyền quản trị của mình." in r.text
    r = a.post(f"/ui/users/{me}/password", {"password": "another-password"})
    assert r.status_code == 409 and "SELF_PASSWORD" in r.text
    a.get("/ui/users?lang=en")
    r = a.post(f"/ui/users/{me}/active", {"active": "0"})
    assert r.status_code == 409 and "You cannot deactivate your own account." in r.text
    u = user_row(session_factory, "admin")
    assert (u.role, u.active) == ("admin", True)
    assert a.post(f"/ui/users/{me}/update", {"language": "en"}).status_code == 303


def test_csrf_and_roles_refused(web, session_factory):
    _, _, b = web
    a, op = b["admin"], b["operator"]
    vid = user_row(session_factory, "viewer").id
    for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": op.csrf()}):
        r = a.post(f"/ui/users/{vid}/active", {**data, "active": "0"}, csrf=False)
        assert r.status_code == 403 and "CSRF" in r.text
        r = a.post("/ui/users", {**data, "username": "csrf.user", "password": "long-enough-pw",
                                 "role": "admin"}, csrf=False)
        assert r.status_code == 403
    assert user_row(session_factory, "viewer").active is True
    assert user_row(session_factory, "csrf.user") is None
    for role in ("operator", "manager", "viewer"):
        for url, data in (("/ui/users", {"username": "sneaky", "password": "long-enough-pw",
                                         "role": "admin"}),
                          (f"/ui/users/{vid}/active", {"active": "0"}),
                          (f"/ui/users/{vid}/password", {"password": "long-enough-pw"}),
                          (f"/ui/users/{vid}/update", {"role": "admin"})):
            r = b[role].post(url, data)
            assert r.status_code == 403 and "Bạn không có quyền truy cập trang này." in r.text, (role, url)
    u = user_row(session_factory, "viewer")
    assert (u.role, u.active) == ("viewer", True) and user_row(session_factory, "sneaky") is None


def test_change_my_password_page(web, session_factory):
    app, _, b = web
    v = b["viewer"]
    page = v.get("/ui/account").text
    assert "Tài khoản của tôi" in page and "Mật khẩu hiện tại" in page
    other, resp, client = fresh_login(app, "viewer", "viewer-password-1")
    try:
        assert resp.status_code == 303
        for data, status, text in (
                ({"current_password": "wrong-password", "new_password": "Mới-2021-abc",
                  "new_password2": "Mới-2021-abc"}, 400, "Mật khẩu hiện tại không đúng."),
                ({"current_password": "viewer-password-1", "new_password": "Mới-2021-abc",
                  "new_password2": "Mới-2021-abd"}, 400, "Hai lần nhập mật khẩu mới không khớp."),
                ({"current_password": "viewer-password-1", "new_password": "ngắn",
                  "new_password2": "ngắn"}, 400, "Mật khẩu phải có ít nhất 10 ký tự."),
                ({"current_password": "viewer-password-1", "new_password": "viewer-password-1",
                  "new_password2": "viewer-password-1"}, 400, "Mật khẩu mới phải khác")):
            r = v.post("/ui/account/password", data)
            assert r.status_code == status and text in r.text, data
        r = v.post("/ui/account/password", {"current_password": "viewer-password-1",
                                            "new_password": "Mới-2021-abc",
                                            "new_password2": "Mới-2021-abc"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/account?ok=user.password_changed"
        assert "Đã đổi mật khẩu; các phiên đăng nhập khác của bạn đã kết thúc." in v.get(
            r.headers["location"]).text  # still logged in here
        assert other.get("/ui/", follow_redirects=False).status_code == 303  # not there
    finally:
        client.__exit__(None, None, None)
    _, resp, client = fresh_login(app, "viewer", "Mới-2021-abc")
    client.__exit__(None, None, None)
    assert resp.status_code == 303
    assert v.post("/ui/account/password", {"current_password": "Mới-2021-abc"}, csrf=False).status_code == 403


def test_change_my_password_page_throttled(web, settings):
    import re

    app, _, b = web
    # a wait far longer than the test: the throttled answers do not depend on its speed
    app.state.settings = settings = settings.model_copy(update={"login_delay_base_s": 600.0})
    m = b["manager"]
    bad = {"current_password": "guess-guess", "new_password": "new-password-42",
           "new_password2": "new-password-42"}
    for _ in range(settings.login_user_failures):
        assert m.post("/ui/account/password", bad).status_code == 400
    r = m.post("/ui/account/password", {**bad, "current_password": "manager-password-1"})
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= settings.login_delay_max_s
    wait = int(r.headers["Retry-After"])
    assert 590 <= wait <= 600
    assert f"Nhập sai mật khẩu quá nhiều lần. Vui lòng thử lại sau {wait} giây." in r.text
    m.get("/ui/account?lang=en")
    r = m.post("/ui/account/password", bad)
    assert r.status_code == 429
    assert re.search(r"Too many wrong passwords. Please try again in \d+ s\.", r.text)
