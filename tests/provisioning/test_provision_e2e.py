"""Issue 5's provisioning test, end to end with real parts: mosquitto with
per-device accounts and the protocol's ACL, `greengate fleet serve` (API +
bridge + account sync), and the real firmware under `greengate sim` with its
console on a pty. The technician's tool registers the device; afterwards the
device connects with its own credentials, applies its signed configuration,
and a scan typed into its scanner pty appears in the fleet API."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import httpx
import pytest

from brokers import Mosquitto, free_port, wait_port
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.services.provision import possession_message
from greengate.passes import keys as gk
from greengate.sim.terminal import SimTerminal
from provisioning import flow
from provisioning.errors import FleetError
from provisioning.fleet_client import FleetClient
from provisioning.link import Link
from provisioning.ports import open_port
from greengate.paths import FIRMWARE

pytestmark = pytest.mark.slow


def wait_until(fn, timeout=60.0, every=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s")


@pytest.fixture
def fleet_with_mosquitto(tmp_path):
    bridge_pw = secrets.token_urlsafe(16)
    mport, api_port = free_port(), free_port()
    conf = mc.write_config(tmp_path / "mosquitto", [], bridge_pw, port=mport, bind="127.0.0.1",
                           run_as="root" if os.geteuid() == 0 else None)
    broker = Mosquitto(port=mport, conf=conf, log=tmp_path / "mosquitto.log").start()
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(str(broker.proc.pid))
    data = tmp_path / "fleet"
    data.mkdir()
    load_or_create_fleet_key(data / "fleet-signing.key", create=True)
    issuer = gk.generate()
    gk.save_private_key(data / "issuer.key", issuer)
    admin_pw = secrets.token_urlsafe(16)
    env = dict(os.environ,
               GREENGATE_DATA_DIR=str(data),
               GREENGATE_DATABASE_URL=f"sqlite:///{data / 'fleet.db'}",
               GREENGATE_BROKER_URL=f"mqtt://{mc.BRIDGE_USER}:{bridge_pw}@127.0.0.1:{mport}",
               GREENGATE_DEVICE_BROKER_URL=f"mqtt://127.0.0.1:{mport}",
               GREENGATE_SECRET_KEY=secrets.token_urlsafe(32),
               GREENGATE_ADMIN_PASSWORD=admin_pw,
               GREENGATE_ARGON2_TIME_COST="1", GREENGATE_ARGON2_MEMORY_KIB="8192",
               GREENGATE_MOSQUITTO_PASSWD_FILE=str(conf.parent / "passwd"),
               GREENGATE_MOSQUITTO_PID_FILE=str(pid_file))
    log = (tmp_path / "fleet.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "greengate.cli", "fleet", "serve",
                             "--port", str(api_port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(api_port, timeout=60)
        url = f"http://127.0.0.1:{api_port}"
        token = httpx.post(f"{url}/api/v1/login",
                           json={"username": "admin", "password": admin_pw}).json()["token"]
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        r = api.post("/api/v1/issuers", json={"iss": "HCM-Q7",
                                              "public_key": gk.raw_public(issuer).hex()})
        assert r.status_code == 201, r.text
        yield url, api
    finally:
        proc.terminate()
        proc.wait(10)
        broker.stop()
        log.close()
        print((tmp_path / "fleet.log").read_text()[-3000:])


def seed(api: httpx.Client) -> tuple[int, str]:
    r = api.post("/api/v1/businesses", json={
        "id": "CM7", "name": "Siêu thị Co.op Tân Phong", "sector": "supermarket",
        "address": "Nguyễn Thị Thập", "ward": "Tân Phong", "operating_mode": "3_tai_cho",
        "two_doses": True, "five_k": True, "plan_approved": True})
    assert r.status_code == 201, r.text
    assert api.post("/api/v1/businesses/CM7/approve").status_code == 200
    r = api.post("/api/v1/sites", json={"business_id": "CM7", "name": "Cổng chính"})
    assert r.status_code == 201, r.text
    site = r.json()["id"]
    r = api.post("/api/v1/technician-tokens", json={"site_id": site})
    assert r.status_code == 201, r.text
    return site, r.json()["token"]


def test_provision_then_scan_reaches_the_fleet(tmp_path, fleet_with_mosquitto):
    url, api = fleet_with_mosquitto
    site, tech_token = seed(api)
    sim_root = tmp_path / "sim"
    with SimTerminal(sim_root, device_id=None, broker=None) as sim:
        port = open_port(sim.console_path)
        fleet = FleetClient(url, tech_token)
        try:
            summary = flow.provision(Link(port), fleet, FIRMWARE, site, wait_online=90)
        finally:
            port.close()
            fleet.close()
        dev = summary.device_id
        assert summary.online and summary.key_created and summary.site_id == site
        # the device holds its own credentials: the broker knows it by its id
        assert dev in (tmp_path / "mosquitto" / "passwd").read_text()
        # its signed configuration is applied (fleet sees the version it published)
        device = wait_until(lambda: (d := api.get(f"/api/v1/devices/{dev}").json())
                            .get("config_version") and d, timeout=90)
        assert device["online"] is True
        # a pass issued by the fleet, typed into the scanner pty, lands in the API
        issued = api.post("/api/v1/passes", json={"role": 0, "initials": "NTH", "birth_year": 1990})
        assert issued.status_code == 201, issued.text
        qr = issued.json()["qr_text"]
        sim.wait_for(lambda e: e.get("kind") == "scanner" and e.get("state") == "ready", timeout=60)
        sim.wait_for(lambda e: e.get("kind") == "control" and e.get("msg_kind") == 2
                     and e.get("applied"), timeout=60)
        sim.scan(qr)
        scans = wait_until(lambda: api.get("/api/v1/scans", params={"device_id": dev}).json(),
                           timeout=60)
        assert scans[0]["pass_hash"] == issued.json()["pass_hash"]
        assert scans[0]["verdict"] is True, scans[0]


def test_wrong_token_and_unreachable_fleet_fail_with_their_messages(fleet_with_mosquitto):
    url, _ = fleet_with_mosquitto
    bad = FleetClient(url, "not-a-token")
    with pytest.raises(FleetError) as e:
        bad.challenge("gg-000000000001")
    assert e.value.code == "TOKEN_REFUSED" and "hết hạn" in str(e.value)
    gone = FleetClient(f"http://127.0.0.1:{free_port()}", "x")
    with pytest.raises(FleetError) as e:
        gone.challenge("gg-000000000001")
    assert e.value.code == "FLEET_UNREACHABLE"


def test_unknown_site_says_so(fleet_with_mosquitto):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    url, api = fleet_with_mosquitto
    r = api.post("/api/v1/technician-tokens", json={})
    assert r.status_code == 201, r.text
    fleet = FleetClient(url, r.json()["token"])
    key = Ed25519PrivateKey.generate()
    ch = fleet.challenge("gg-00000000abcd")
    sig = key.sign(possession_message(ch.fleet_key, "gg-00000000abcd", ch.challenge))
    with pytest.raises(FleetError) as e:
        fleet.register("gg-00000000abcd", gk.raw_public(key), 9999, "0.1.0", ch.challenge, sig)
    assert e.value.code == "SITE_UNKNOWN" and "9999" in str(e.value)


def test_device_label_carries_the_device_id_as_a_qr(tmp_path):
    import zxingcpp
    from PIL import Image

    from provisioning.label import write_label

    png, pdf = write_label("gg-0123456789ab", "12", tmp_path)
    assert [b.text for b in zxingcpp.read_barcodes(Image.open(png), formats=zxingcpp.BarcodeFormat.QRCode)] == ["gg-0123456789ab"]
    assert pdf.read_bytes().startswith(b"%PDF")
