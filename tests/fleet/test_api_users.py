"""User management: PATCH /users/{id} (admin), POST /me/password (anyone),
the self and last-admin rules, sessions and technician tokens ended at once,
audit rows without passwords."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import event, select, text

from fleet.core import errors
from fleet.models import AuditLog, User, UserSession
from fleet.services import users

from fleet_helpers import wait_until


def uid(api, username: str) -> int:
    return next(u["id"] for u in api.as_("admin").get("/api/v1/users").json()
                if u["username"] == username)


def login(api, username: str, password: str):
    api.client.cookies.clear()
    r = api.client.post("/api/v1/login", json={"username": username, "password": password})
    api.client.cookies.clear()
    return r


def audit_rows(session_factory, action: str) -> list[AuditLog]:
    with session_factory() as db:
        return list(db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def all_audit_text(session_factory) -> str:
    with session_factory() as db:
        return json.dumps([[a.action, a.detail] for a in db.scalars(select(AuditLog))], ensure_ascii=False)


def test_patch_is_admin_only_unknown_404_bad_body_422(api):
    viewer = uid(api, "viewer")
    for role in ("operator", "manager", "viewer"):
        r = api.as_(role).patch(f"/api/v1/users/{viewer}", json={"language": "en"})
        assert r.status_code == 403 and r.json()["title"] == "ROLE", role
        assert api.as_(role).get(f"/api/v1/users/{viewer}").status_code == 403
    assert api.client.patch(f"/api/v1/users/{viewer}", json={"language": "en"}).status_code == 401
    for bad_id in ("9999", "0", "99999999999999999999"):
        r = api.as_("admin").patch(f"/api/v1/users/{bad_id}", json={"language": "en"})
        assert r.status_code == 404 and r.json()["title"] == "NOT_FOUND", bad_id
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "không tìm thấy" in r.json()["detail"]
    assert api.as_("admin").get("/api/v1/users/9999").status_code == 404
    assert api.as_("admin").patch("/api/v1/users/abc", json={}).status_code == 422
    for body in ({"role": "god"}, {"password": "short"}, {"language": "fr"}, {"active": "maybe"},
                 {"username": "rename"}, {"password": "x" * 257}, {"business_id": "B" * 17}):
        r = api.as_("admin").patch(f"/api/v1/users/{viewer}", json=body)
        assert r.status_code == 422 and r.json()["title"] == "VALIDATION", body
    r = api.as_("admin").patch(f"/api/v1/users/{viewer}", content=b"{no",
                               headers={"content-type": "application/json"})
    assert r.status_code == 422
    # Nothing changed, nothing audited.
    r = api.as_("admin").get(f"/api/v1/users/{viewer}").json()
    assert r["language"] == "vi" and r["active"] is True and r["created_at"]
    assert api.as_("admin").patch(f"/api/v1/users/{viewer}", json={}).json()["language"] == "vi"


def test_deactivate_ends_sessions_and_technician_tokens_at_once(api, session_factory):
    op = uid(api, "operator")
    tech = api.as_("operator").post("/api/v1/technician-tokens", json={}).json()["token"]
    second = login(api, "operator", "operator-password-1").json()["token"]
    tech_h = {"Authorization": f"Bearer {tech}"}
    assert api.client.post("/api/v1/devices/challenge", json={"device_id": "gg-000000000001"},
                           headers=tech_h).status_code == 200
    r = api.as_("admin").patch(f"/api/v1/users/{op}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    # Refused at once: the session used a moment ago, the second one, the technician token.
    assert api.as_("operator").get("/api/v1/me").status_code == 401
    assert api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code == 401
    assert api.client.post("/api/v1/devices/challenge", json={"device_id": "gg-000000000001"},
                           headers=tech_h).status_code == 401
    with session_factory() as db:
        assert db.scalar(select(UserSession).where(UserSession.user_id == op)) is None
    assert login(api, "operator", "operator-password-1").status_code == 401
    [row] = audit_rows(session_factory, "user.deactivate")
    assert row.actor == "admin" and row.target_id == str(op) and row.detail == {"sessions_ended": 3}
    # Deactivated is listed and filterable by the client; activating lets it log in again.
    listed = {u["username"]: u for u in api.as_("admin").get("/api/v1/users").json()}
    assert listed["operator"]["active"] is False
    assert api.as_("admin").patch(f"/api/v1/users/{op}", json={"active": True}).json()["active"] is True
    assert login(api, "operator", "operator-password-1").status_code == 200
    assert len(audit_rows(session_factory, "user.activate")) == 1
    # Activating an active account again is no change and no audit row.
    api.as_("admin").patch(f"/api/v1/users/{op}", json={"active": True})
    assert len(audit_rows(session_factory, "user.activate")) == 1


def test_password_reset_refuses_old_accepts_new(api, session_factory):
    v = uid(api, "viewer")
    new = "Mật-khẩu-mới-2021"
    r = api.as_("admin").patch(f"/api/v1/users/{v}", json={"password": new})
    assert r.status_code == 200 and "password" not in r.json() and "password_hash" not in r.json()
    assert api.as_("viewer").get("/api/v1/me").status_code == 401  # its session ended
    assert login(api, "viewer", "viewer-password-1").status_code == 401
    assert login(api, "viewer", new).status_code == 200
    [row] = audit_rows(session_factory, "user.password_reset")
    assert row.actor == "admin" and row.detail == {"sessions_ended": 1}
    assert new not in all_audit_text(session_factory)
    assert "viewer-password-1" not in all_audit_text(session_factory)
    r = api.as_("admin").patch(f"/api/v1/users/{v}", json={"password": "123456789"})
    assert r.status_code == 422
    assert login(api, "viewer", new).status_code == 200  # unchanged by the refused reset


def test_role_and_business_follow_the_creation_rules(api, session_factory):
    op = uid(api, "operator")
    adm = api.as_("admin")
    for body in ({"role": "manager"}, {"role": "manager", "business_id": "NOPE"},
                 {"role": "manager", "business_id": None}, {"business_id": "B1"},
                 {"role": "viewer", "business_id": "B1"}):
        r = adm.patch(f"/api/v1/users/{op}", json=body)
        assert r.status_code == 400 and r.json()["title"] == "BAD_BUSINESS", body
        assert " / " in r.json()["detail"]  # English / Vietnamese
    tech = api.as_("operator").post("/api/v1/technician-tokens", json={}).json()["token"]
    r = adm.patch(f"/api/v1/users/{op}", json={"role": "manager", "business_id": "B2"})
    assert r.status_code == 200 and (r.json()["role"], r.json()["business_id"]) == ("manager", "B2")
    # The change holds at once for its live session; technician tokens of the old role end.
    me = api.as_("operator").get("/api/v1/me").json()
    assert (me["role"], me["business_id"]) == ("manager", "B2")
    assert api.as_("operator").post("/api/v1/sites", json={"business_id": "B1",
                                                           "name": "x"}).status_code == 403
    assert api.client.post("/api/v1/devices/challenge", json={"device_id": "gg-000000000001"},
                           headers={"Authorization": f"Bearer {tech}"}).status_code == 401
    # A manager keeps its business when only the business changes; another role drops it.
    assert adm.patch(f"/api/v1/users/{op}", json={"business_id": "B1"}).json()["business_id"] == "B1"
    r = adm.patch(f"/api/v1/users/{op}", json={"role": "viewer"})
    assert (r.json()["role"], r.json()["business_id"]) == ("viewer", None)
    r = adm.patch(f"/api/v1/users/{op}", json={"language": "en"})
    assert r.json()["language"] == "en"
    rows = audit_rows(session_factory, "user.role")
    assert [(a.detail["before"], a.detail["after"]) for a in rows] == [
        ({"role": "operator", "business_id": None}, {"role": "manager", "business_id": "B2"}),
        ({"role": "manager", "business_id": "B2"}, {"role": "manager", "business_id": "B1"}),
        ({"role": "manager", "business_id": "B1"}, {"role": "viewer", "business_id": None})]
    assert rows[0].detail["tokens_ended"] == 1 and rows[1].detail["tokens_ended"] == 0
    [lang] = audit_rows(session_factory, "user.language")
    assert lang.detail == {"before": "vi", "after": "en"}
    # The audit route shows them to the district.
    actions = [a["action"] for a in api.as_("admin").get("/api/v1/audit?action=user.").json()]
    assert {"user.role", "user.language", "user.create"} <= set(actions)


def test_admin_cannot_deactivate_demote_or_reset_itself(api, session_factory):
    me = uid(api, "admin")
    adm = api.as_("admin")
    for body, code in (({"active": False}, "SELF_DEACTIVATE"), ({"role": "operator"}, "SELF_DEMOTE"),
                       ({"password": "another-password-1"}, "SELF_PASSWORD")):
        r = adm.patch(f"/api/v1/users/{me}", json=body)
        assert r.status_code == 409 and r.json()["title"] == code, body
        assert " / " in r.json()["detail"]
    # Harmless changes to oneself are fine.
    assert adm.patch(f"/api/v1/users/{me}", json={"language": "en", "active": True}).status_code == 200
    assert adm.get("/api/v1/me").json()["role"] == "admin"
    # A second admin may deactivate the first; then it is the last active admin.
    r = adm.post("/api/v1/users", json={"username": "admin2", "password": "admin2-password",
                                        "role": "admin"})
    assert r.status_code == 201
    a2 = r.json()["id"]
    tok2 = login(api, "admin2", "admin2-password").json()["token"]
    h2 = {"Authorization": f"Bearer {tok2}"}
    assert api.client.patch(f"/api/v1/users/{me}", json={"active": False}, headers=h2).status_code == 200
    assert adm.get("/api/v1/me").status_code == 401
    assert api.client.patch(f"/api/v1/users/{a2}", json={"role": "viewer"},
                            headers=h2).json()["title"] == "SELF_DEMOTE"
    # Demoting the inactive first admin is fine: it is not an active admin.
    r = api.client.patch(f"/api/v1/users/{me}", json={"role": "viewer"}, headers=h2)
    assert r.status_code == 200 and r.json()["role"] == "viewer"


def test_last_active_admin_is_never_deactivated_or_demoted(api, session_factory):
    """From an actor that is not the admin itself (the CLI; the API cannot get
    here without a race, tested below)."""
    with session_factory() as db:
        admin = db.scalar(select(User).where(User.username == "admin"))
        for change in ({"active": False}, {"role": "operator"}):
            with pytest.raises(errors.Conflict) as e:
                users.update_user(db, "cli:test", admin, **change)
            assert e.value.code == "LAST_ADMIN" and e.value.status == 409
        db.rollback()
        # With a second active admin both changes are allowed.
        users.create_user(db, "admin2", "admin2-password", "admin")
        assert users.update_user(db, "cli:test", admin, role="operator") == ["role"]
        db.commit()
    with session_factory() as db:
        admin2 = db.scalar(select(User).where(User.username == "admin2"))
        with pytest.raises(errors.Conflict, match="last active admin"):
            users.update_user(db, "cli:test", admin2, active=False)


def test_two_admins_demoting_each_other_leave_one(api, db_url, engine, session_factory):
    """Two admins demote each other at the same moment: the admin rows are
    locked before they are counted, so the second change waits for the first
    and then sees it. Without the lock both pass and no admin is left."""
    pg = not db_url.startswith("sqlite")
    with session_factory() as db:
        users.create_user(db, "admin2", "admin2-password", "admin")
        db.commit()
    s1, s2 = session_factory(), session_factory()
    result: dict = {}
    second_started = threading.Event()

    def mark(conn, cursor, statement, *_):  # noqa: ANN001
        if threading.current_thread().name == "second-admin":
            second_started.set()

    event.listen(engine, "before_cursor_execute", mark)
    try:
        a1 = s1.scalar(select(User).where(User.username == "admin"))
        a2_in_s1 = s1.scalar(select(User).where(User.username == "admin2"))
        users.update_user(s1, "admin", a2_in_s1, actor_id=a1.id, role="viewer")  # holds the lock
        a1_in_s2 = s2.scalar(select(User).where(User.username == "admin"))
        a2 = s2.scalar(select(User).where(User.username == "admin2"))

        def second() -> None:
            try:
                users.update_user(s2, "admin2", a1_in_s2, actor_id=a2.id, active=False)
                s2.commit()
                result["ok"] = True
            except errors.Conflict as e:
                s2.rollback()
                result["code"] = e.code

        t = threading.Thread(target=second, name="second-admin")
        t.start()
        wait_until(lambda: second_started.is_set() or result, timeout=20)
        if pg:  # exact: the second transaction waits on a row lock (or has ended)
            with session_factory() as probe:
                wait_until(lambda: result or probe.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")), timeout=20)
        else:  # SQLite: it is inside its first statement, which waits on the write lock
            time.sleep(0.5)
        s1.commit()
        t.join(40)
    finally:
        event.remove(engine, "before_cursor_execute", mark)
        s1.close()
        s2.close()
    assert result == {"code": "LAST_ADMIN"}
    with session_factory() as db:
        active_admins = db.scalars(select(User.username).where(User.role == "admin",
                                                               User.active.is_(True))).all()
    assert active_admins == ["admin"]


def test_change_my_password(api, session_factory):
    c = api.client
    other = login(api, "manager", "manager-password-1").json()["token"]
    mine = api.as_("manager")
    for body, status, code in (
            ({"current_password": "wrong-password", "new_password": "new-password-42"}, 400,
             "WRONG_PASSWORD"),
            ({"current_password": "manager-password-1", "new_password": "manager-password-1"}, 400,
             "SAME_PASSWORD"),
            ({"current_password": "manager-password-1", "new_password": "short"}, 422, "VALIDATION"),
            ({"current_password": "manager-password-1"}, 422, "VALIDATION")):
        r = mine.post("/api/v1/me/password", json=body)
        assert r.status_code == status and r.json()["title"] == code, body
    assert c.post("/api/v1/me/password", json={"current_password": "manager-password-1",
                                               "new_password": "new-password-42"}).status_code == 401
    r = mine.post("/api/v1/me/password", json={"current_password": "manager-password-1",
                                                "new_password": "Mật khẩu mới 42"})
    assert r.status_code == 200 and r.json() == {"sessions_ended": 1}
    assert mine.get("/api/v1/me").status_code == 200  # this session stays
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert login(api, "manager", "manager-password-1").status_code == 401
    assert login(api, "manager", "Mật khẩu mới 42").status_code == 200
    [row] = audit_rows(session_factory, "user.password_change")
    assert row.actor == "manager" and row.detail == {"sessions_ended": 1}
    assert "Mật khẩu mới 42" not in all_audit_text(session_factory)


def test_change_my_password_is_throttled_like_log_in(api, settings):
    # a wait far longer than the test: the answers do not depend on its speed
    api.client.app.state.settings = settings = settings.model_copy(
        update={"login_delay_base_s": 600.0})
    mine = api.as_("viewer")
    bad = {"current_password": "guess-guess", "new_password": "new-password-42"}
    good = {"current_password": "viewer-password-1", "new_password": "new-password-42"}
    for _ in range(settings.login_user_failures):
        assert mine.post("/api/v1/me/password", json=bad).status_code == 400
    r = mine.post("/api/v1/me/password", json=good)  # right password, but locked now
    assert r.status_code == 429 and r.json()["title"] == "TOO_MANY_ATTEMPTS"
    assert 0 < int(r.headers["Retry-After"]) <= settings.login_delay_max_s
    # The same lock as the log-in form: the username is locked there too.
    assert login(api, "viewer", "viewer-password-1").status_code == 429
    assert mine.get("/api/v1/me").status_code == 200  # the session itself is untouched
