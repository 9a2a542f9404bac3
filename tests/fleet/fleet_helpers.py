"""Helpers shared by the fleet tests (importable: tests/fleet is put on sys.path
by tests/fleet/conftest.py)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fleet.services.provision import possession_message


def pubhex() -> str:
    return Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def dev_id(n: int) -> str:
    return f"gg-{n:012x}"


def registration(client, headers: dict, device_id: str, site_id=None, key=None, **extra) -> dict:
    """A register body the way the provisioning tool builds it: challenge from
    the fleet, signed by the device's own key."""
    key = key or Ed25519PrivateKey.generate()
    r = client.post("/api/v1/devices/challenge", json={"device_id": device_id}, headers=headers)
    assert r.status_code == 200, r.text
    challenge = bytes.fromhex(r.json()["challenge"])
    fleet_key = bytes.fromhex(r.json()["fleet_public_key"])
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    statement = possession_message(fleet_key, device_id, challenge)
    body = {"device_id": device_id, "public_key": pub.hex(), "site_id": site_id, "firmware": "0.1.0",
            "challenge": challenge.hex(), "signature": key.sign(statement).hex()}
    body.update(extra)
    return body


def register(api, role: str, device_id: str, site_id=None) -> dict:
    h = api.headers(role)
    r = api.client.post("/api/v1/devices/register", json=registration(api.client, h, device_id, site_id),
                        headers=h)
    assert r.status_code == 201, r.text
    return r.json()


class Api:
    """A TestClient plus a bearer token per role: `api.as_("manager").get(...)`."""

    def __init__(self, client, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def headers(self, role: str | None) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def as_(self, role: str | None):
        api = self

        class _Bound:
            def __getattr__(self, method):
                def call(url, **kw):
                    headers = {**api.headers(role), **kw.pop("headers", {})}
                    return getattr(api.client, method)(url, headers=headers, **kw)
                return call

        return _Bound()


BUSINESS = {
    "name": "Bách hoá Xanh Tân Phong", "sector": "supermarket",
    "address": "12 Nguyễn Văn Linh", "ward": "Tân Phong", "zone": "green",
    "operating_mode": "3_tai_cho", "two_doses": True, "five_k": True, "plan_approved": True,
    "testing_interval_days": 7,
}




def wait_until(pred, timeout: float = 15.0, step: float = 0.05):
    """Poll pred() until truthy (returns its value) or fail after timeout.
    A deadline, not a speed assertion: slow machines only wait longer."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


def seed_registry(db, device_ids=(), business_id="B1"):
    """An approved business with one site and registered devices; returns
    (site, {device_id: mqtt_password})."""
    from fleet.models import Business, Site
    from fleet.services import registry

    db.add(Business(id=business_id, name="Cửa hàng", sector="supermarket", address="1 A",
                    ward="Tân Phong", operating_mode="3_tai_cho", status="approved",
                    two_doses=True, five_k=True, plan_approved=True))
    site = Site(business_id=business_id, name="Cổng", rules={})
    db.add(site)
    db.flush()
    passwords = {}
    for d in device_ids:
        _, pw = registry.register_device(db, d, pubhex(), site.id, "sim", "test")
        passwords[d] = pw
    db.commit()
    return site, passwords


def sim_root(tmp_path, device_id: str, site_id: int, fleet_key):
    """A provisioned gate's flash for `greengate sim`: its id, site and the
    fleet's public key (what provisioning writes)."""
    import json

    from greengate.passes import keys as gk

    root = tmp_path / "sim"
    (root / "flash").mkdir(parents=True)
    (root / "flash" / "config.json").write_text(json.dumps({
        "device_id": device_id, "site_id": str(site_id), "fleet_keys": [gk.raw_public(fleet_key).hex()]}))
    return root


def file_fleet(tmp_path):
    """(settings, engine, sessions) of a fleet on a SQLite file with every
    table, as `greengate fleet serve` has it (end-to-end tests)."""
    from fleet.core.config import Settings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.models import Base

    settings = Settings(demo=True, data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'fleet.db'}")
    engine = make_engine(settings.db_url)
    Base.metadata.create_all(engine)
    return settings, engine, make_sessionmaker(engine)
