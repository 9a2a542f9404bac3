"""Helpers for the dashboard tests (importable: conftest.py puts this folder on
sys.path): the app with the dashboard mounted, seed data, a form-driving client."""

from __future__ import annotations

import re

from fleet_helpers import pubhex

ROLES = ("admin", "operator", "manager", "viewer")
DEVICES = {"B1": "gg-0000000000b1", "B2": "gg-0000000000b2"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app(settings, session_factory=None):
    from fleet import web
    from fleet.api.main import create_app

    return web.mount(create_app(settings, sessions=session_factory))


def seed(db, settings) -> dict:
    """Businesses B1 (approved) and B2 (approved), one site and one gate each,
    users operator / manager (of B1) / viewer. Returns {business: site_id}."""
    from fleet.models import Business, Site
    from fleet.services import registry, users

    users.ensure_admin(db, settings.admin_username, settings.admin_password)
    sites = {}
    for bid, name in (("B1", "Bách hoá Xanh Tân Phong"), ("B2", "Nhà thuốc Long Châu")):
        db.add(Business(id=bid, name=name, sector="supermarket", address="12 Nguyễn Văn Linh",
                        ward="Tân Phong", operating_mode="3_tai_cho", status="approved",
                        two_doses=True, five_k=True, plan_approved=True))
        site = Site(business_id=bid, name=f"Cổng chính {bid}", rules={})
        db.add(site)
        db.flush()
        sites[bid] = site.id
        registry.register_device(db, DEVICES[bid], pubhex(), site.id, "1.0.0", "test")
    for role, bid in (("operator", None), ("manager", "B1"), ("viewer", None)):
        users.create_user(db, role, f"{role}-password-1", role, bid)
    db.commit()
    return sites


def password_for(role: str, settings) -> str:
    return settings.admin_password if role == "admin" else f"{role}-password-1"


class Browser:
    """A TestClient with its own cookie jar, logged in through the login form."""

    def __init__(self, client) -> None:
        self.c = client

    def login(self, username: str, password: str):
        page = self.c.get("/ui/login")
        token = CSRF_RE.search(page.text).group(1)
        return self.c.post("/ui/login", data={"username": username, "password": password,
                                              "csrf_token": token}, follow_redirects=False)

    def csrf(self, url: str = "/ui/alerts") -> str:
        return CSRF_RE.search(self.c.get(url).text).group(1)

    def post(self, url: str, data: dict | None = None, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf()
        return self.c.post(url, data=data, follow_redirects=False, **kw)

    def get(self, url: str, **kw):
        return self.c.get(url, **kw)




ALERT_ROW = re.compile(r'<tr data-alert="(\d+)" data-kind="([A-Z_]+)" class="sev-row-(\w+)">(.*?)</tr>', re.S)
COUNT_CELL = re.compile(r'<td class="count">(\d+)</td>')


def alert_rows(page: str) -> list[dict]:
    """The alert groups of an alerts page, in page order."""
    return [{"id": int(m.group(1)), "kind": m.group(2), "severity": m.group(3),
             "count": int(COUNT_CELL.search(m.group(4)).group(1)), "html": m.group(4)}
            for m in ALERT_ROW.finditer(page)]
