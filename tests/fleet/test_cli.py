"""`greengate fleet ...` (fleet/cli.py): admin commands print JSON with --json;
`serve` with no options runs SQLite + amqtt + the API, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from brokers import free_port, wait_port
from fleet.broker_bridge.bridge import BrokerParams
from fleet.broker_bridge.simulator import SimDevice
from fleet.cli import app
from fleet_helpers import dev_id, registration, wait_until

runner = CliRunner()


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GREENGATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("GREENGATE_DEMO", "1")  # lets `passes issue` make the issuer key

    def run(*args, ok=True):
        r = runner.invoke(app, list(args))
        if ok:
            assert r.exit_code == 0, (r.stdout, r.stderr)
        return r
    return run


def test_business_lifecycle_json(cli):
    r = cli("businesses", "add", "B1", "Nhà thuốc Tân Phong", "--sector", "pharmacy_clinic",
            "--address", "1 Nguyễn Văn Linh", "--ward", "Tân Phong", "--two-doses", "--five-k",
            "--plan-approved", "--json")
    assert json.loads(r.stdout)["status"] == "pending"
    r = cli("businesses", "add", "B1", "x", "--sector", "pharmacy_clinic", "--address", "a",
            "--ward", "w", ok=False)
    assert r.exit_code == 1 and "BUSINESS_EXISTS" in r.stderr
    r = cli("businesses", "add", "B2", "x", "--sector", "casino", "--address", "a", "--ward", "w", ok=False)
    assert r.exit_code == 1 and "VALIDATION" in r.stderr
    assert json.loads(cli("businesses", "approve", "B1", "--json").stdout)["status"] == "approved"
    out = json.loads(cli("businesses", "suspend", "B1", "--reason", "F0", "--json").stdout)
    assert out["status"] == "suspended" and out["suspended_reason"] == "F0"
    assert json.loads(cli("businesses", "reinstate", "B1", "--json").stdout)["status"] == "approved"
    rows = json.loads(cli("businesses", "list", "--json").stdout)
    assert [(b["id"], b["sector"]) for b in rows] == [("B1", "pharmacy_clinic")]
    assert cli("businesses", "list").stdout.startswith("B1\tapproved\tpharmacy_clinic")
    r = cli("businesses", "reinstate", "NOPE", ok=False)
    assert r.exit_code == 1 and "NOT_FOUND" in r.stderr


def test_passes_revocations_users_devices(cli, tmp_path):
    cli("businesses", "add", "B1", "Siêu thị", "--sector", "supermarket", "--address", "a", "--ward", "w")
    card = tmp_path / "card.pdf"
    out = json.loads(cli("passes", "issue", "--role", "1", "--initials", "NVA", "--birth-year", "1990",
                         "--business", "B1", "--card", str(card), "--json").stdout)
    assert out["qr_text"].startswith("GG1:") and card.read_bytes().startswith(b"%PDF")
    assert json.loads(cli("passes", "list", "--json").stdout)[0]["pass_hash"] == out["pass_hash"]
    r = json.loads(cli("revocations", "add", out["pass_hash"], "--reason", "LOST", "--json").stdout)
    assert r["version"] == 1
    r = cli("revocations", "add", out["pass_hash"], "--reason", "LOST", ok=False)
    assert "ALREADY_REVOKED" in r.stderr
    assert json.loads(cli("revocations", "list", "--json").stdout)[0]["pass_hash"] == out["pass_hash"]
    r = json.loads(cli("revocations", "lift", out["pass_hash"], "--reason", "ERROR", "--json").stdout)
    assert (r["version"], r["active"], r["lift_reason"]) == (2, False, "ERROR")
    assert "NOT_REVOKED" in cli("revocations", "lift", out["pass_hash"], "--reason", "ERROR", ok=False).stderr
    assert json.loads(cli("revocations", "list", "--json").stdout)[0]["active"] is False
    u = json.loads(cli("users", "add", "op1", "--role", "operator", "--json").stdout)
    assert u["role"] == "operator" and len(u["password"]) >= 10
    assert "BAD_ROLE" in cli("users", "add", "x1", "--role", "god", ok=False).stderr
    t = json.loads(cli("technician-token", "--username", "op1", "--json").stdout)
    assert len(t["token"]) > 20
    assert json.loads(cli("devices", "list", "--json").stdout) == []
    assert "NOT_FOUND" in cli("devices", "command", dev_id(1), "sync", ok=False).stderr
    from fleet.core.config import StorageSettings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet_helpers import pubhex
    from fleet.services import registry
    engine = make_engine(StorageSettings().db_url)
    with make_sessionmaker(engine)() as db:
        registry.register_device(db, dev_id(1), pubhex(), None, "0.1", "test")
        db.commit()
    engine.dispose()
    assert [d["id"] for d in json.loads(cli("devices", "list", "--json").stdout)] == [dev_id(1)]
    out = json.loads(cli("devices", "command", dev_id(1), "open_gate", "--arg", "seconds=5", "--json").stdout)
    assert out["topic"] == f"gg/v1/dev/{dev_id(1)}/cmd"
    assert "BAD_COMMAND" in cli("devices", "command", dev_id(1), "open_gate", "--arg", "seconds=99",
                                ok=False).stderr
    conf = json.loads(cli("broker-config", "--out", str(tmp_path / "mq"), "--bridge-password",
                          "bridge-pw-123", "--bridge-workers", "2", "--json").stdout)
    assert conf["devices"] == 1 and "mosquitto_dynamic_security.so" in open(conf["conf"]).read()
    assert conf["fleet_users"] == ["fleet-bridge-1", "fleet-bridge-2", "fleet-accounts"]
    passwd = (tmp_path / "mq" / "passwd").read_text().splitlines()
    assert [ln.split(":")[0] for ln in passwd] == [*conf["fleet_users"], dev_id(1)]
    assert passwd[3].startswith(dev_id(1) + ":$7$")
    dynsec = json.loads((tmp_path / "mq" / "dynamic-security.json").read_text())
    assert {c["username"]: c["clientid"] for c in dynsec["clients"]} == {
        u: u for u in [*conf["fleet_users"], dev_id(1)]}


def test_users_set_and_list(cli, monkeypatch):
    cli("businesses", "add", "B1", "Siêu thị", "--sector", "supermarket", "--address", "a", "--ward", "w")
    cli("users", "add", "root1", "--role", "admin")
    cli("users", "add", "op1", "--role", "operator")
    r = cli("users", "set", "root1", "--inactive", ok=False)  # the only admin
    assert r.exit_code == 1 and "LAST_ADMIN" in r.stderr
    assert "LAST_ADMIN" in cli("users", "set", "root1", "--role", "viewer", ok=False).stderr
    assert "BAD_BUSINESS" in cli("users", "set", "op1", "--role", "manager", ok=False).stderr
    out = json.loads(cli("users", "set", "op1", "--role", "manager", "--business", "B1",
                         "--language", "en", "--json").stdout)
    assert (out["role"], out["business_id"], out["language"]) == ("manager", "B1", "en")
    assert out["changed"] == ["role", "business_id", "language"] and "password" not in out
    out = json.loads(cli("users", "set", "op1", "--reset-password", "--inactive", "--json").stdout)
    assert out["active"] is False and len(out["password"]) >= 10
    monkeypatch.setenv("GREENGATE_NEW_PASSWORD", "short")
    assert "WEAK_PASSWORD" in cli("users", "set", "op1", "--reset-password", ok=False).stderr
    assert "NOT_FOUND" in cli("users", "set", "nobody", "--active", ok=False).stderr
    rows = {u["username"]: u for u in json.loads(cli("users", "list", "--json").stdout)}
    assert rows["root1"]["active"] is True and rows["op1"]["active"] is False
    assert cli("users", "list").stdout.splitlines()[1].startswith("2\top1\tmanager\tB1\ten\tFalse")
    from fleet.core.config import StorageSettings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.core import security
    from fleet.models import AuditLog, User
    from sqlalchemy import select
    engine = make_engine(StorageSettings().db_url)
    with make_sessionmaker(engine)() as db:
        op1 = db.scalar(select(User).where(User.username == "op1"))
        assert security.verify_password(op1.password_hash, out["password"])
        actions = list(db.scalars(select(AuditLog.action).where(AuditLog.target_id == str(op1.id))))
    engine.dispose()
    assert {"user.role", "user.language", "user.password_reset", "user.deactivate"} <= set(actions)


def test_serve_with_no_options_runs_the_embedded_stack(tmp_path):
    """SQLite + amqtt in-process + API: a gate registers, connects and reports a scan."""
    api_port, mqtt_port = free_port(), free_port()
    env = {**os.environ, "GREENGATE_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for k in ("GREENGATE_DATABASE_URL", "GREENGATE_BROKER_URL", "GREENGATE_SECRET_KEY", "GREENGATE_DEMO"):
        env.pop(k, None)
    log = (tmp_path / "serve.log").open("w")
    p = subprocess.Popen([sys.executable, "-m", "fleet.cli", "serve", "--port", str(api_port),
                          "--broker-port", str(mqtt_port)], env=env, stdout=log, stderr=log)
    dev = None
    try:
        wait_port(api_port, timeout=60)
        secrets_file = tmp_path / "data" / "secrets.json"
        assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
        pw = json.loads(secrets_file.read_text())["admin_password"]
        c = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10)
        tok = c.post("/api/v1/login", json={"username": "admin", "password": pw}).json()["token"]
        h = {"Authorization": f"Bearer {tok}"}
        assert c.post("/api/v1/businesses", headers=h, json={
            "id": "B1", "name": "Chợ", "sector": "supermarket", "address": "a", "ward": "w",
            "operating_mode": "3_tai_cho", "two_doses": True, "five_k": True,
            "plan_approved": True}).status_code == 201
        site = c.post("/api/v1/sites", headers=h, json={"business_id": "B1", "name": "Cổng"}).json()
        reg = c.post("/api/v1/devices/register", headers=h,
                     json=registration(c, h, dev_id(1), site["id"])).json()
        assert reg["broker_url"] == f"mqtt://127.0.0.1:{mqtt_port}"
        import base64

        import cbor2
        bundle = cbor2.loads(cbor2.loads(base64.b64decode(reg["bundle"])).value[2])[6]
        assert bundle[3] == dev_id(1)
        anon = SimDevice(dev_id(1), BrokerParams(port=mqtt_port), client_id="anon")
        anon.connect()  # the embedded broker refuses clients without credentials
        assert anon.connect_error is not None or not anon.client.is_connected()
        anon.client.loop_stop()
        dev = SimDevice(dev_id(1), BrokerParams(port=mqtt_port), password=bundle[4]).connect()
        assert dev.connect_error is None
        dev.publish_state()
        dev.publish_scans(0, 3).wait_for_publish(10)
        wait_until(lambda: len(c.get("/api/v1/scans", headers=h).json()) == 3, timeout=30)
        wait_until(lambda: c.get(f"/api/v1/devices/{dev_id(1)}", headers=h).json()["online"])
        wait_until(lambda: dev.messages(f"gg/v1/dev/{dev_id(1)}/config"))  # its signed config
        assert c.get("/metrics").status_code == 401  # a log-in or the scrape token
        assert "greengate_scans_ingested_total 3" in c.get("/metrics", headers=h).text
    finally:
        if dev:
            dev.close()
        p.terminate()
        p.wait(20)
        log.close()


def test_serve_keeps_its_data_per_user_and_refuses_a_busy_port_before_any_password(tmp_path):
    """Issue 11: `serve` wrote greengate-data/ into the current directory (in a
    clone: `git status` noise), and on a busy port printed a first-start admin
    password for a service that then failed to start."""
    import socket

    xdg, cwd = tmp_path / "xdg", tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "XDG_DATA_HOME": str(xdg), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for k in ("GREENGATE_DATA_DIR", "GREENGATE_DATABASE_URL", "GREENGATE_BROKER_URL",
              "GREENGATE_SECRET_KEY", "GREENGATE_DEMO"):
        env.pop(k, None)
    api_port, mqtt_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "fleet.cli", "serve", "--port", str(api_port), "--broker-port", str(mqtt_port)]
    with socket.socket() as other:  # another program already listens on the API port
        other.bind(("127.0.0.1", api_port))
        other.listen()
        r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "PORT_BUSY" in r.stderr and f"port {api_port}" in r.stderr, r.stderr
    assert "password" not in r.stderr and not xdg.exists() and not any(cwd.iterdir())

    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=log)
        try:
            wait_port(api_port, timeout=60)
            data = xdg / "greengate"
            pw = json.loads((data / "secrets.json").read_text())["admin_password"]
            text = log_path.read_text()
            assert f"mật khẩu quản trị: {pw}" in text and f"data directory: {data}" in text
            assert (data / "fleet.db").exists() and not any(cwd.iterdir())
            c = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10)
            assert c.post("/api/v1/login", json={"username": "admin", "password": pw}).status_code == 200
        finally:
            p.terminate()
            p.wait(20)
