"""Businesses, sites, devices (registration, technician tokens, commands), issuers."""

import pytest
from fleet.broker_bridge import topics
from fleet.broker_bridge.mosquitto_conf import check_password_hash
from fleet_helpers import BUSINESS, dev_id, pubhex, register, registration


def site_of(api, bid):
    return [s for s in api.as_("admin").get("/api/v1/sites").json() if s["business_id"] == bid][0]


def test_business_crud_scoping_and_validation(api):
    op, mgr, viewer = api.as_("operator"), api.as_("manager"), api.as_("viewer")
    assert [b["id"] for b in mgr.get("/api/v1/businesses").json()] == ["B1"]
    assert {b["id"] for b in viewer.get("/api/v1/businesses").json()} == {"B1", "B2"}
    assert mgr.get("/api/v1/businesses/B2").status_code == 403
    assert mgr.get("/api/v1/businesses/B1").json()["status"] == "approved"
    assert op.get("/api/v1/businesses/NOPE").status_code == 404
    body = {**BUSINESS, "id": "B3"}
    assert mgr.post("/api/v1/businesses", json=body).status_code == 403
    assert viewer.post("/api/v1/businesses", json=body).status_code == 403
    assert op.post("/api/v1/businesses", json={**body, "sector": "casino"}).status_code == 422
    assert op.post("/api/v1/businesses", json={**body, "operating_mode": "x"}).status_code == 422
    assert op.post("/api/v1/businesses", json={**body, "id": "bad id!"}).status_code == 422
    assert op.post("/api/v1/businesses", json={**body, "extra": 1}).status_code == 422
    r = op.post("/api/v1/businesses", json={**body, "five_k": False})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert op.post("/api/v1/businesses", json=body).json()["title"] == "BUSINESS_EXISTS"
    r = op.post("/api/v1/businesses/B3/approve")
    assert r.status_code == 409 and r.json()["missing"] == ["five_k"]
    assert op.patch("/api/v1/businesses/B3", json={"five_k": True}).status_code == 200
    assert mgr.patch("/api/v1/businesses/B1", json={"five_k": False}).status_code == 403
    assert op.patch("/api/v1/businesses/B3", json={"zone": "purple"}).status_code == 422
    assert op.post("/api/v1/businesses/B3/approve").json()["status"] == "approved"
    assert [b["id"] for b in op.get("/api/v1/businesses?status=approved").json()] == ["B1", "B2", "B3"]


def test_suspend_reinstate_pushes_site_config(api, session_factory):
    from fleet.models import ControlOutbox
    from sqlalchemy import select

    op = api.as_("operator")
    register(api, "operator", dev_id(7), site_of(api, "B1")["id"])
    assert api.as_("manager").post("/api/v1/businesses/B1/suspend", json={"reason": "x"}).status_code == 403
    assert op.post("/api/v1/businesses/B1/suspend", json={}).status_code == 422
    r = op.post("/api/v1/businesses/B1/suspend", json={"reason": "kiểm tra"})
    assert r.json()["status"] == "suspended" and r.json()["suspended_reason"] == "kiểm tra"
    assert op.post("/api/v1/businesses/B1/approve").status_code == 409
    site = site_of(api, "B1")
    with session_factory() as db:
        last = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "config")
                          .order_by(ControlOutbox.id.desc())).first()
    assert last.topic == topics.config(dev_id(7)) and last.retain
    assert last.body["suspended"] is True and last.body["site_version"] == site["config_version"]
    assert op.post("/api/v1/businesses/B1/reinstate").json()["status"] == "approved"
    assert op.post("/api/v1/businesses/B1/reinstate").json()["title"] == "NOT_SUSPENDED"
    assert site_of(api, "B1")["config_version"] == site["config_version"] + 1


def test_sites(api):
    op, mgr = api.as_("operator"), api.as_("manager")
    assert [s["business_id"] for s in mgr.get("/api/v1/sites").json()] == ["B1"]
    assert mgr.post("/api/v1/sites", json={"business_id": "B1", "name": "x"}).status_code == 403
    assert op.post("/api/v1/sites", json={"business_id": "NOPE", "name": "x"}).status_code == 404
    assert op.post("/api/v1/sites", json={"business_id": "B1", "name": "x", "capacity": 0}).status_code == 422
    assert op.post("/api/v1/sites", json={"business_id": "B1", "name": "x",
                                          "rules": [[13, {}]]}).json()["title"] == "BAD_RULES"
    assert op.post("/api/v1/sites", json={"business_id": "B1", "name": "x",
                                          "rules": [[1, {"roles": [1]}]]}).json()["title"] == "BAD_RULES"
    assert op.post("/api/v1/sites", json={"business_id": "B1", "name": "x",
                                          "rules": {"1": 2}}).status_code == 422
    r = op.post("/api/v1/sites", json={"business_id": "B1", "name": "Kho", "name_en": "Warehouse",
                                         "capacity": 50, "rules": [[1, {"1": [1, 2]}], [10, {"1": 600}]]})
    assert r.status_code == 201 and r.json()["config_version"] == 0
    assert r.json()["rules"] == [[1, {"1": [1, 2]}], [10, {"1": 600}]]
    sid = r.json()["id"]
    assert op.patch(f"/api/v1/sites/{sid}", json={"capacity": 60}).json()["config_version"] == 1
    assert op.post(f"/api/v1/sites/{sid}/publish").json()["config_version"] == 2
    b2 = site_of(api, "B2")["id"]
    assert mgr.get(f"/api/v1/sites/{b2}").status_code == 403
    assert mgr.get(f"/api/v1/sites/{sid}").json()["capacity"] == 60
    assert op.get("/api/v1/sites/99999").status_code == 404


def test_device_registration_with_technician_token(api, settings):
    import base64

    import cbor2

    op = api.as_("operator")
    c = api.client
    site = site_of(api, "B1")
    assert api.as_("manager").post("/api/v1/technician-tokens", json={}).status_code == 403
    tok = op.post("/api/v1/technician-tokens", json={"site_id": site["id"]}).json()["token"]
    th = {"Authorization": f"Bearer {tok}"}
    body = registration(c, th, dev_id(1))
    assert c.post("/api/v1/devices/register", json=body).status_code == 401
    r = c.post("/api/v1/devices/register", json=body, headers=th)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["site_id"] == site["id"] and out["mqtt_username"] == dev_id(1)
    # the bundle: a kind-5 control message for this device, signed with the fleet key
    bundle = base64.b64decode(out["bundle"])
    tag = cbor2.loads(bundle)
    protected, _, payload, sig = tag.value
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(out["fleet_public_key"])).verify(
        sig, cbor2.dumps(["Signature1", protected, b"", payload]))
    m = cbor2.loads(payload)
    assert m[1] == 5 and list(m[5]) == [2, dev_id(1)]
    assert m[6][1] == str(site["id"]) and m[6][3] == dev_id(1) and len(m[6][4]) >= 24
    assert list(m[6][5]) == [bytes.fromhex(out["fleet_public_key"])]
    # the technician token reads the device (to wait for it online) but is no login session
    assert c.get(f"/api/v1/devices/{dev_id(1)}", headers=th).json()["online"] is False
    assert c.get("/api/v1/me", headers=th).status_code == 401
    # another site with a site-bound token is refused
    other = site_of(api, "B2")["id"]
    r = c.post("/api/v1/devices/register", json=registration(c, th, dev_id(2), other), headers=th)
    assert r.status_code == 403 and r.json()["title"] == "SITE_SCOPE"
    # proof of possession: a signature by another key, a challenge for another device
    r = c.post("/api/v1/devices/register", headers=th,
               json={**registration(c, th, dev_id(3)), "public_key": pubhex()})
    assert r.json()["title"] == "BAD_SIGNATURE"
    other_dev = registration(c, th, dev_id(4))
    r = c.post("/api/v1/devices/register", headers=th, json={**other_dev, "device_id": dev_id(5)})
    assert r.json()["title"] == "BAD_CHALLENGE"
    from fleet.services import provision
    old = provision.make_challenge(settings.secret_key, dev_id(6), now=1_000_000)
    r = c.post("/api/v1/devices/register", headers=th,
               json={**registration(c, th, dev_id(6)), "challenge": old.hex()})
    assert r.json()["title"] in ("CHALLENGE_EXPIRED", "BAD_SIGNATURE")
    # same id, another key: conflict; malformed bodies: 422
    r = op.post("/api/v1/devices/register", json=registration(c, api.headers("operator"), dev_id(1)))
    assert r.status_code == 409
    assert op.post("/api/v1/devices/register", json={**body, "device_id": "gate-1"}).status_code == 422
    assert op.post("/api/v1/devices/register", json={**body, "public_key": "zz" * 32}).status_code == 422
    assert api.as_("viewer").post("/api/v1/devices/register", json=body).status_code == 403
    assert api.as_("viewer").post("/api/v1/devices/challenge", json={"device_id": dev_id(1)}).status_code == 403
    dev = api.as_("admin").get(f"/api/v1/devices/{dev_id(1)}").json()
    assert dev["public_key"] == body["public_key"] and dev["site_id"] == site["id"]


def test_expired_challenge_is_refused(settings):
    from fleet.core import errors
    from fleet.services import provision

    c = provision.make_challenge(settings.secret_key, dev_id(1), now=1000)
    provision.check_challenge(settings.secret_key, dev_id(1), c, now=1100)
    with pytest.raises(errors.BadRequest) as e:
        provision.check_challenge(settings.secret_key, dev_id(1), c, now=1000 + 301)
    assert e.value.code == "CHALLENGE_EXPIRED"
    with pytest.raises(errors.BadRequest):
        provision.check_challenge("another-secret-key", dev_id(1), c, now=1100)


def test_device_password_stored_as_mosquitto_hash(api, session_factory):
    import base64

    import cbor2
    from fleet.models import Device

    out = register(api, "operator", dev_id(9))
    password = cbor2.loads(cbor2.loads(base64.b64decode(out["bundle"])).value[2])[6][4]
    with session_factory() as db:
        stored = db.get(Device, dev_id(9)).mqtt_password_hash
    assert stored.startswith("$7$101$") and password not in stored
    assert check_password_hash(stored, password)
    assert not check_password_hash(stored, password + "x")


def test_device_listing_scope_patch_and_commands(api, session_factory):
    from sqlalchemy import select

    from fleet.models import ControlOutbox

    op, mgr = api.as_("operator"), api.as_("manager")
    s1, s2 = site_of(api, "B1")["id"], site_of(api, "B2")["id"]
    a, b = dev_id(0xA), dev_id(0xB)
    register(api, "operator", a, s1)
    register(api, "operator", b, s2)
    assert [d["id"] for d in mgr.get("/api/v1/devices").json()] == [a]
    assert mgr.get(f"/api/v1/devices/{b}").status_code == 403
    assert [d["id"] for d in op.get(f"/api/v1/devices?site_id={s2}").json()] == [b]
    assert op.get("/api/v1/devices?online=true").json() == []
    assert op.get(f"/api/v1/devices/{dev_id(0xFF)}").status_code == 404
    assert mgr.patch(f"/api/v1/devices/{a}", json={"site_id": s2}).status_code == 403
    assert op.patch(f"/api/v1/devices/{a}", json={"site_id": 99999}).status_code == 404
    assert op.patch(f"/api/v1/devices/{a}", json={"site_id": s2}).json()["site_id"] == s2
    with session_factory() as db:
        cfg = db.scalars(select(ControlOutbox).where(ControlOutbox.topic == topics.config(a))
                         .order_by(ControlOutbox.id.desc())).first()
    assert cfg.body["site"] == s2 and cfg.body["business"] == "B2"  # moved: new site's config queued
    r = op.post(f"/api/v1/devices/{b}/commands", json={"command": "reboot"})
    assert r.status_code == 202 and r.json()["topic"] == topics.command(b)
    cmd = lambda body: op.post(f"/api/v1/devices/{b}/commands", json=body)  # noqa: E731
    assert cmd({"command": "selfdestruct"}).status_code == 422
    assert cmd({"command": "reboot", "args": {"x": 1}}).json()["title"] == "BAD_COMMAND"
    assert cmd({"command": "show_message", "args": {"vi": "Xin chào"}}).status_code == 400
    assert cmd({"command": "show_message", "args": {"vi": "x" * 121, "en": "y"}}).status_code == 400
    assert cmd({"command": "open_gate", "args": {"seconds": 31}}).status_code == 400
    assert cmd({"command": "open_gate", "args": {"seconds": 5}}).status_code == 202
    assert cmd({"command": "screenshot", "args": {"chunk_size": 100}}).status_code == 400
    r = cmd({"command": "show_message", "args": {"vi": "Xin chào", "en": "Hello"}})
    assert r.status_code == 202
    with session_factory() as db:
        row = db.get(ControlOutbox, r.json()["id"])
    assert row.body["args"] == {"vi": "Xin chào", "en": "Hello", "seconds": 10}
    assert mgr.post(f"/api/v1/devices/{a}/commands", json={"command": "sync"}).status_code == 403
    assert op.post(f"/api/v1/devices/{dev_id(0xFF)}/commands", json={"command": "sync"}).status_code == 404
    assert op.get(f"/api/v1/devices/{b}/screenshot").status_code == 404


def test_issuers_admin_only(api):
    key = pubhex()
    body = {"iss": "HCM-Q7", "public_key": key}
    assert api.as_("operator").post("/api/v1/issuers", json=body).status_code == 403
    r = api.as_("admin").post("/api/v1/issuers", json=body)
    assert r.status_code == 201
    import hashlib
    assert r.json()["kid"] == hashlib.sha256(bytes.fromhex(key)).digest()[:8].hex()
    assert api.as_("admin").post("/api/v1/issuers", json=body).status_code == 409
    assert api.as_("admin").post("/api/v1/issuers", json={**body, "iss": ""}).status_code == 422
    assert [i["kid"] for i in api.as_("viewer").get("/api/v1/issuers").json()] == [r.json()["kid"]]


def test_screenshot_route_reassembles_chunks_and_checks_scope(api, session_factory):
    import hashlib

    from fleet.broker_bridge.simulator import _tiny_png
    from fleet.services import devices as device_svc

    a = dev_id(0x5C)
    register(api, "operator", a, site_of(api, "B1")["id"])
    png = _tiny_png()
    parts = [png[i:i + 768] for i in range(0, len(png), 768)]
    with session_factory() as db:
        for i, part in reversed(list(enumerate(parts))):  # any arrival order
            device_svc.store_reply(db, a, {"id": 7, "status": 0, "detail": "", "chunk": (i, len(parts)),
                                           "data": part, "sha256": hashlib.sha256(png).digest() if i == 0 else None})
        device_svc.store_reply(db, a, {"id": 7, "status": 0, "detail": "", "chunk": (1, len(parts)),
                                       "data": b"dup", "sha256": None})  # re-delivered chunk: ignored
        db.commit()
    r = api.as_("manager").get(f"/api/v1/devices/{a}/screenshot")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content == png
    register(api, "operator", dev_id(0x5D), site_of(api, "B2")["id"])
    assert api.as_("manager").get(f"/api/v1/devices/{dev_id(0x5D)}/screenshot").status_code == 403
    with session_factory() as db:  # a corrupted set never shows
        device_svc.store_reply(db, dev_id(0x5D), {"id": 1, "status": 0, "detail": "", "chunk": (0, 1),
                                                  "data": png, "sha256": b"\0" * 32})
        db.commit()
    assert api.as_("operator").get(f"/api/v1/devices/{dev_id(0x5D)}/screenshot").status_code == 404


def test_bundle_opens_with_the_firmware_code(api):
    """The provisioning bundle the API answers is accepted by the device's own
    firmware/setup/bundle.py under MicroPython (blank device, then a device
    already holding the fleet key); a tampered one is refused."""
    import base64

    from mpy import run_micropython

    out = register(api, "operator", dev_id(0xB0), site_of(api, "B1")["id"])
    bundle = base64.b64decode(out["bundle"])
    bad = bytearray(bundle)
    bad[-1] ^= 1
    script = (
        "import binascii, sys\n"
        "from setup import bundle\n"
        "data = binascii.unhexlify(sys.stdin.readline().strip())\n"
        "bad = binascii.unhexlify(sys.stdin.readline().strip())\n"
        "key = binascii.unhexlify(sys.stdin.readline().strip())\n"
        f"b = bundle.open_bundle(data, '{dev_id(0xB0)}', [])\n"
        "print(b[1], b[3], len(b[4]), b[2])\n"
        f"b = bundle.open_bundle(data, '{dev_id(0xB0)}', [key])\n"
        "try:\n"
        f"    bundle.open_bundle(bad, '{dev_id(0xB0)}', [key])\n"
        "    print('ACCEPTED')\n"
        "except Exception as e:\n"
        "    print('refused', e.reason)\n"
        "try:\n"
        f"    bundle.open_bundle(data, '{dev_id(0xB1)}', [key])\n"
        "    print('ACCEPTED')\n"
        "except Exception as e:\n"
        "    print('refused', e.reason)\n"
    )
    stdin = "\n".join([bundle.hex(), bytes(bad).hex(), out["fleet_public_key"]]) + "\n"
    r = run_micropython(script, stdin=stdin, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split("\n")
    site_id, user, pw_len, url = lines[0].split(" ")
    assert (site_id, user, url) == (str(out["site_id"]), dev_id(0xB0), out["broker_url"])
    assert int(pw_len) >= 24
    assert lines[1] == "refused 41"   # CTRL_SIGNATURE
    assert lines[2] == "refused 46"   # CTRL_SCOPE: a bundle for another device
