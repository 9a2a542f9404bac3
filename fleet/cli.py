"""`greengate fleet ...`: run the fleet service and script its administration.

Library first: every command is a thin layer over fleet.services (the same
functions the API calls). Data goes to stdout (a JSON document with --json),
diagnostics and errors to stderr; a failure exits 1 with its error code.

    greengate fleet serve                         # SQLite + amqtt in-process + API on :8000
    greengate fleet serve --db postgresql://u:p@h/db --broker mqtts://fleet-bridge:pw@h:8883
    greengate fleet businesses list --json
    greengate fleet revocations add <pass hash> --reason LOST
    greengate fleet dcc import trustlist.json     # EU DCC signer (DSC) list
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from fleet.core import errors

app = typer.Typer(no_args_is_help=True, help="Fleet service: serve it, and administer it.")
businesses_app = typer.Typer(no_args_is_help=True, help="Businesses (doanh nghiệp).")
devices_app = typer.Typer(no_args_is_help=True, help="Gate devices (thiết bị).")
passes_app = typer.Typer(no_args_is_help=True, help="Passes (thẻ).")
revocations_app = typer.Typer(no_args_is_help=True, help="Revocations (thu hồi).")
users_app = typer.Typer(no_args_is_help=True, help="Operator accounts.")
dcc_app = typer.Typer(no_args_is_help=True, help="EU DCC signer certificates (chứng thư ký EU DCC).")
release_app = typer.Typer(no_args_is_help=True, help="Signed firmware releases (bản phát hành).")
campaign_app = typer.Typer(no_args_is_help=True, help="Firmware rollout campaigns (chiến dịch cập nhật).")
for _sub, _name in ((businesses_app, "businesses"), (devices_app, "devices"), (passes_app, "passes"),
                    (revocations_app, "revocations"), (users_app, "users"), (dcc_app, "dcc"),
                    (release_app, "release"), (campaign_app, "campaign")):
    app.add_typer(_sub, name=_name)

DbOpt = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: GREENGATE_DATABASE_URL "
                                                           "or the SQLite file in the data dir).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ACTOR = f"cli:{os.environ.get('USER', 'operator')}"


def _fail(e: errors.FleetError) -> None:
    typer.echo(f"error [{e.code}]: {e.message}", err=True)
    raise typer.Exit(1)


def _storage(db: str | None):  # noqa: ANN202
    from fleet.core.config import StorageSettings

    s = StorageSettings()
    return s.model_copy(update={"database_url": db}) if db else s


def _make_data_dir(settings) -> None:  # noqa: ANN001
    """The SQLite file lives in the data directory: make it on first use."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)


@contextmanager
def _session(db: str | None, migrate: bool = True):  # noqa: ANN202
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.migrations import upgrade

    settings = _storage(db)
    _make_data_dir(settings)
    if migrate:
        upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine)() as session:
            try:
                yield session, settings
                session.commit()
            except errors.FleetError as e:
                session.rollback()
                _fail(e)
    finally:
        engine.dispose()


def _out(data: Any, as_json: bool, columns: list[str] | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str, indent=2))
        return
    rows = data if isinstance(data, list) else [data]
    for r in rows:
        keys = columns or list(r)
        typer.echo("\t".join(str(r.get(k, "")) for k in keys))


def _row(obj: Any, fields: list[str]) -> dict:
    return {f: getattr(obj, f) for f in fields}


# -- serve ------------------------------------------------------------------------------

def _local_secrets(data_dir: Path) -> dict:
    """Embedded mode without configured secrets: random ones, made once and kept
    in data_dir/secrets.json (0600); the admin password is printed on creation."""
    path = data_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {"secret_key": secrets.token_urlsafe(32), "admin_password": secrets.token_urlsafe(12)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    typer.echo(f"first start: admin password / mật khẩu quản trị: {values['admin_password']} "
               f"(kept in {path})", err=True)
    return values


def _refuse_busy_ports(wanted: list[tuple[str, str, int, str]]) -> None:
    """Stop before anything is created (and before a first-start password is
    shown for a service that would not start) when a port is taken."""
    from greengate.listen import port_in_use

    for what, host, port, option in wanted:
        if port_in_use(port, host):
            typer.echo(f"error [PORT_BUSY]: cổng {port} trên {host} đang được dùng / port {port} on "
                       f"{host} ({what}) is already in use: stop the other program or choose {option}",
                       err=True)
            raise typer.Exit(1)


@app.command()
def serve(
    db: DbOpt = None,
    broker: Annotated[Optional[str], typer.Option(help="mqtt://user:pw@host:1883 or mqtts://...; "
                                                       "default: amqtt in-process")] = None,
    host: Annotated[str, typer.Option(help="API listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    broker_port: Annotated[Optional[int], typer.Option(help="embedded broker port")] = None,
    broker_bind: Annotated[str, typer.Option(help="embedded broker address (0.0.0.0 for gates "
                                                  "on the LAN)")] = "127.0.0.1",
    shared: Annotated[Optional[bool], typer.Option(help="$share subscriptions (default: on for an "
                                                        "external broker)")] = None,
) -> None:
    """Run the API, the broker bridge, the alert checks, the firmware campaigns and (by
    default) the embedded broker."""
    import uvicorn

    from fleet.api.hardening import UVICORN_OPTIONS
    from fleet.api.main import create_app
    from sqlalchemy import select

    from fleet.broker_bridge import mosquitto_conf as mc
    from fleet.broker_bridge.bridge import Bridge, BrokerParams
    from fleet.broker_bridge.embedded import EmbeddedBroker
    from fleet.models import Device
    from fleet.broker_bridge.wire import load_or_create_fleet_key
    from fleet.core.config import Settings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.core.logging import configure
    from fleet.migrations import upgrade
    from fleet.services import alerts

    configure()
    overrides: dict[str, Any] = {}
    if db:
        overrides["database_url"] = db
    if broker:
        overrides["broker_url"] = broker
    if broker_port:
        overrides["broker_port"] = broker_port
    embedded = not (db or broker or os.environ.get("GREENGATE_DATABASE_URL")
                    or os.environ.get("GREENGATE_BROKER_URL"))
    wanted = [("API", host, port, "--port")]
    if not (broker or os.environ.get("GREENGATE_BROKER_URL")):
        wanted.append(("embedded MQTT broker", broker_bind, broker_port or _storage(None).broker_port,
                       "--broker-port"))
    _refuse_busy_ports(wanted)
    try:
        if embedded and not os.environ.get("GREENGATE_SECRET_KEY"):
            base = _storage(None)
            overrides.update(_local_secrets(base.data_dir))
        settings = Settings(**overrides)
    except ValueError as e:
        typer.echo(f"error [CONFIG]: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"thư mục dữ liệu / data directory: {settings.data_dir} "
               f"(GREENGATE_DATA_DIR to change it)", err=True)
    _make_data_dir(settings)
    try:
        upgrade(settings.db_url)
        fleet_key = load_or_create_fleet_key(settings.signing_key_path,
                                             create=embedded or settings.demo)
        engine = make_engine(settings.db_url)
        sessions = make_sessionmaker(engine)
        local = None
        if not settings.broker_url:
            # per-device credentials and the protocol ACL, like production (amqtt_acl.py)
            bridge_pw = secrets.token_urlsafe(24)
            bridge_hash = mc.password_hash(bridge_pw)
            # the bridge's client id is its username (a fleet account, "fleet-*")
            bridge_user = os.environ.get("GREENGATE_BRIDGE_CLIENT_ID") or mc.BRIDGE_USER
            if not mc.is_fleet_user(bridge_user):
                raise errors.ConfigError(f"bridge client id must start with {mc.FLEET_PREFIX!r}",
                                         code="BAD_BRIDGE_CLIENT_ID")

            def lookup(user: str) -> str | None:
                if user == bridge_user:
                    return bridge_hash
                with sessions() as s:
                    return s.scalar(select(Device.mqtt_password_hash).where(
                        Device.mqtt_username == user, Device.status == "active"))
            local = EmbeddedBroker(settings.broker_port, host=broker_bind, lookup=lookup).start()
            params = BrokerParams(port=settings.broker_port, username=bridge_user, password=bridge_pw)
            typer.echo(f"embedded MQTT broker (amqtt) on {local.url}", err=True)
        else:
            params = BrokerParams.from_url(settings.broker_url,
                                           str(settings.broker_ca_file) if settings.broker_ca_file else None)
        accounts = None
        if settings.mosquitto_passwd_file and settings.mosquitto_pid_file:
            from dataclasses import replace

            from fleet.broker_bridge.account_sync import DynsecControl, MosquittoAccountSync

            # the bridge password is also that of the plugin's account keeper
            control = DynsecControl(replace(params, username=mc.ACCOUNTS_USER))
            try:
                accounts = MosquittoAccountSync(sessions, settings.mosquitto_passwd_file,
                                                settings.mosquitto_pid_file, control=control).start()
            except (OSError, ValueError, errors.BrokerError) as e:
                raise errors.FleetError(f"mosquitto accounts: {e}", code="BROKER_ACCOUNTS") from e
        use_shared = shared if shared is not None else local is None
        # the broker binds every account to client id = username (docs/fleet.md)
        bridge = Bridge(sessions, params, fleet_key, shared=use_shared,
                        client_id=params.username or mc.BRIDGE_USER).start()
    except errors.FleetError as e:
        _fail(e)
    stop = threading.Event()

    def alert_loop() -> None:
        while not stop.wait(60):
            try:
                with sessions() as s:
                    alerts.evaluate(s, settings)
                    s.commit()
            except Exception as e:  # keep checking; the log says why
                typer.echo(f"alert check failed: {type(e).__name__}", err=True)

    def ota_loop() -> None:
        from fleet.services import ota

        while not stop.wait(settings.ota_tick_s):
            try:
                ota.tick(sessions)
            except Exception as e:  # keep rolling out; the log says why
                typer.echo(f"firmware campaign step failed: {type(e).__name__}: {e}", err=True)

    threading.Thread(target=alert_loop, name="alerts", daemon=True).start()
    threading.Thread(target=ota_loop, name="ota-campaigns", daemon=True).start()
    app_ = create_app(settings, sessions=sessions, fleet_key=fleet_key)
    try:  # the operators' dashboard (fleet/web), when present
        from fleet import web
    except ImportError:
        web = None
    if web is not None and hasattr(web, "mount"):
        app_ = web.mount(app_)
    typer.echo(f"fleet API on http://{host}:{port} (OpenAPI: /docs)", err=True)
    try:
        uvicorn.run(app_, host=host, port=port, **UVICORN_OPTIONS)
    finally:
        stop.set()
        bridge.stop()
        if accounts:
            accounts.stop()
        if local:
            local.stop()
        engine.dispose()


@app.command()
def migrate(db: DbOpt = None) -> None:
    """Bring the database schema to the latest revision (alembic upgrade head)."""
    from fleet.migrations import upgrade

    upgrade(_storage(db).db_url)
    typer.echo("database at head", err=True)


@app.command("bridge")
def bridge_worker(
    broker: Annotated[str, typer.Option(help="mqtt(s)://fleet-bridge-N:pw@host:port, one N per worker")],
    client_id: Annotated[Optional[str], typer.Option(
        help="default and only value the broker accepts: the username")] = None,
    db: DbOpt = None,
    ca_file: Annotated[Optional[Path], typer.Option()] = None,
    publish: Annotated[bool, typer.Option(help="also sign and publish the control outbox")] = False,
    shared: Annotated[bool, typer.Option(help="$share subscriptions")] = True,
) -> None:
    """One more bridge worker (shares the ingest load through $share)."""
    from fleet.broker_bridge.__main__ import main

    args = ["--db", _storage(db).db_url, "--broker", broker]
    if client_id:
        args += ["--client-id", client_id]
    if ca_file:
        args += ["--ca-file", str(ca_file)]
    if publish:
        args += ["--fleet-key", str(_storage(db).signing_key_path)]
    else:
        args += ["--no-publish"]
    if not shared:
        args += ["--no-shared"]
    main(args)


@app.command("broker-config")
def broker_config(
    out: Annotated[Path, typer.Option(help="directory for mosquitto.conf, passwd, dynamic-security.json")],
    bridge_password: Annotated[str, typer.Option(envvar="GREENGATE_BRIDGE_PASSWORD",
                                                 help="password of the fleet-* MQTT users")],
    db: DbOpt = None,
    bridge_workers: Annotated[int, typer.Option(
        envvar="GREENGATE_BRIDGE_WORKERS", min=1, max=64,
        help="accounts fleet-bridge-1..N, one per bridge worker")] = 4,  # mc.DEFAULT_BRIDGE_WORKERS
    port: int = 1883,
    tls_port: int = 8883,
    cafile: Optional[Path] = None,
    certfile: Optional[Path] = None,
    keyfile: Optional[Path] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the production mosquitto 2 configuration from the device registry
    (restart mosquitto after writing it; `serve` with GREENGATE_MOSQUITTO_PASSWD_FILE
    and ..._PID_FILE keeps its accounts equal to the registry from then on)."""
    from fleet.broker_bridge import mosquitto_conf as mc

    tls = None
    if cafile or certfile or keyfile:
        if not (cafile and certfile and keyfile):
            typer.echo("error [BAD_TLS]: --cafile, --certfile and --keyfile go together", err=True)
            raise typer.Exit(1)
        tls = mc.TlsFiles(cafile=cafile, certfile=certfile, keyfile=keyfile, port=tls_port)
    with _session(db) as (s, _):
        accounts = mc.device_accounts(s)
    conf = mc.write_config(out, accounts, bridge_password, port=port, tls=tls,
                           bridge_workers=bridge_workers)
    _out({"conf": str(conf), "devices": len(accounts),
          "fleet_users": mc.fleet_users(bridge_workers)}, json_out)


# -- businesses ---------------------------------------------------------------------------

BUSINESS_FIELDS = ["id", "name", "sector", "ward", "zone", "status", "operating_mode", "two_doses",
                   "five_k", "plan_approved", "testing_interval_days", "suspended_reason"]


@businesses_app.command("list")
def businesses_list(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    from sqlalchemy import select

    from fleet.models import Business

    with _session(db) as (s, _):
        rows = [_row(b, BUSINESS_FIELDS) for b in s.scalars(select(Business).order_by(Business.id))]
    _out(rows, json_out, ["id", "status", "sector", "ward", "name"])


@businesses_app.command("add")
def businesses_add(
    business_id: str, name: str,
    sector: Annotated[str, typer.Option(help="priority sector, e.g. supermarket, pharmacy_clinic")],
    address: Annotated[str, typer.Option()], ward: Annotated[str, typer.Option()],
    mode: Annotated[str, typer.Option(help="3_tai_cho or 1_cung_duong_2_diem_den")] = "3_tai_cho",
    zone: str = "green", two_doses: bool = False, five_k: bool = False, plan_approved: bool = False,
    testing_interval_days: Optional[int] = None, db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    from pydantic import ValidationError

    from fleet.api.schemas import BusinessIn
    from fleet.models import Business
    from fleet.services import audit

    try:
        body = BusinessIn(id=business_id, name=name, sector=sector, address=address, ward=ward,
                          zone=zone, operating_mode=mode, two_doses=two_doses, five_k=five_k,
                          plan_approved=plan_approved, testing_interval_days=testing_interval_days)
    except ValidationError as e:
        typer.echo(f"error [VALIDATION]: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}", err=True)
        raise typer.Exit(1) from None
    with _session(db) as (s, _):
        if s.get(Business, body.id) is not None:
            _fail(errors.Conflict(f"business {body.id} exists", code="BUSINESS_EXISTS"))
        b = Business(**{**body.model_dump(), "sector": body.sector.value, "zone": body.zone.value,
                        "operating_mode": body.operating_mode.value})
        s.add(b)
        s.flush()
        audit.record(s, ACTOR, "business.create", "business", b.id)
        out = _row(b, BUSINESS_FIELDS)
    _out(out, json_out, ["id", "status"])


def _set_status(business_id: str, status: str, reason: str | None, db: str | None, as_json: bool) -> None:
    from fleet.models import BusinessStatus
    from fleet.services import f0, registry

    with _session(db) as (s, _):
        if status == "reinstate":
            f0.reinstate(s, business_id, ACTOR)
        else:
            registry.set_business_status(s, registry.get_business(s, business_id),
                                         BusinessStatus(status), ACTOR, reason)
        out = _row(registry.get_business(s, business_id), BUSINESS_FIELDS)
    _out(out, as_json, ["id", "status"])


@businesses_app.command("approve")
def businesses_approve(business_id: str, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    _set_status(business_id, "approved", None, db, json_out)


@businesses_app.command("suspend")
def businesses_suspend(business_id: str, reason: Annotated[str, typer.Option()], db: DbOpt = None,
                       json_out: JsonOpt = False) -> None:
    _set_status(business_id, "suspended", reason, db, json_out)


@businesses_app.command("reinstate")
def businesses_reinstate(business_id: str, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    _set_status(business_id, "reinstate", None, db, json_out)


# -- devices -----------------------------------------------------------------------------------

DEVICE_FIELDS = ["id", "site_id", "status", "online", "last_seen", "firmware", "config_version",
                 "revocation_version", "trust_version", "outbox_depth", "clock_drift_s"]


@devices_app.command("list")
def devices_list(db: DbOpt = None, json_out: JsonOpt = False,
                 site: Annotated[Optional[int], typer.Option()] = None) -> None:
    from sqlalchemy import select

    from fleet.models import Device

    with _session(db) as (s, _):
        q = select(Device).order_by(Device.id)
        if site is not None:
            q = q.where(Device.site_id == site)
        rows = [_row(d, DEVICE_FIELDS) for d in s.scalars(q)]
    _out(rows, json_out, ["id", "site_id", "online", "last_seen", "firmware"])


@devices_app.command("command")
def devices_command(device_id: str, command: str,
                    arg: Annotated[list[str], typer.Option(help="name=value, e.g. seconds=5")] = [],  # noqa: B006
                    db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Queue a signed command: sync, open_gate, show_message, reboot, screenshot."""
    from fleet.api.routes.devices import check_command_args
    from fleet.services import audit, control, registry

    args: dict[str, Any] = {}
    for a in arg:
        k, _, v = a.partition("=")
        args[k] = int(v) if v.isdigit() else v
    if command not in control.COMMANDS:
        _fail(errors.BadRequest(f"unknown command {command}", code="BAD_COMMAND"))
    with _session(db) as (s, _):
        registry.get_device(s, device_id)
        row = control.enqueue_command(s, device_id, command, check_command_args(command, args))
        audit.record(s, ACTOR, f"device.command.{command}", "device", device_id, command_id=row.id)
        out = {"id": row.id, "topic": row.topic}
    _out(out, json_out)


@app.command("technician-token")
def technician_token(username: Annotated[str, typer.Option(help="operator the token acts for")],
                     site: Annotated[Optional[int], typer.Option()] = None,
                     ttl: Annotated[int, typer.Option(help="seconds")] = 900,
                     db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """A short-lived token for `greengate provision run --token`."""
    from sqlalchemy import select

    from fleet.models import User
    from fleet.services import audit, registry, users

    with _session(db) as (s, _):
        user = s.scalar(select(User).where(User.username == username))
        if user is None or user.role not in ("admin", "operator"):
            _fail(errors.Forbidden("tokens are made for an admin or operator account", code="ROLE"))
        if site is not None:
            registry.get_site(s, site)
        token, row = users.open_session(s, user, ttl, kind="technician", site_id=site)
        audit.record(s, ACTOR, "technician_token.create", "site", site)
        out = {"token": token, "expires_at": row.expires_at.isoformat(), "site_id": site}
    _out(out, json_out)


# -- users ---------------------------------------------------------------------------------------

@users_app.command("add")
def users_add(username: str, role: Annotated[str, typer.Option(help="admin, operator, manager, viewer")],
              business: Annotated[Optional[str], typer.Option()] = None,
              password: Annotated[Optional[str], typer.Option(envvar="GREENGATE_NEW_PASSWORD",
                                                            help="default: a random one, printed")] = None,
              db: DbOpt = None, json_out: JsonOpt = False) -> None:
    from fleet.services import audit, users

    pw = password or secrets.token_urlsafe(12)
    with _session(db) as (s, _):
        u = users.create_user(s, username, pw, role, business)
        audit.record(s, ACTOR, "user.create", "user", u.id, role=role)
        out = {"id": u.id, "username": u.username, "role": u.role, "business_id": u.business_id}
        if not password:
            out["password"] = pw
    _out(out, json_out)


USER_FIELDS = ["id", "username", "role", "business_id", "language", "active", "created_at"]


@users_app.command("list")
def users_list(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    from sqlalchemy import select

    from fleet.models import User

    with _session(db) as (s, _):
        rows = [_row(u, USER_FIELDS) for u in s.scalars(select(User).order_by(User.id))]
    _out(rows, json_out, USER_FIELDS[:6])


@users_app.command("set")
def users_set(username: str,
              active: Annotated[Optional[bool], typer.Option("--active/--inactive",
                                                             help="--inactive ends its sessions")] = None,
              role: Annotated[Optional[str], typer.Option(help="admin, operator, manager, viewer")] = None,
              business: Annotated[Optional[str], typer.Option(help="a manager's business")] = None,
              language: Annotated[Optional[str], typer.Option(help="vi or en")] = None,
              reset_password: Annotated[bool, typer.Option(
                  "--reset-password", help="new password from GREENGATE_NEW_PASSWORD, else a random "
                                           "one, printed; ends its sessions")] = False,
              db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Change an account (the way back in when the last admin forgot its password).
    The last active admin is never deactivated or demoted."""
    from sqlalchemy import select

    from fleet.models import User
    from fleet.services import users

    pw = (os.environ.get("GREENGATE_NEW_PASSWORD") or secrets.token_urlsafe(12)) \
        if reset_password else None
    with _session(db) as (s, _):
        u = s.scalar(select(User).where(User.username == username))
        if u is None:
            _fail(errors.NotFound(f"user {username} not found / không tìm thấy người dùng"))
        changed = users.update_user(s, ACTOR, u, active=active, password=pw, role=role,
                                    business_id=business if business is not None else users.UNSET,
                                    language=language)
        out = {**_row(u, USER_FIELDS), "changed": changed}
        if reset_password and not os.environ.get("GREENGATE_NEW_PASSWORD"):
            out["password"] = pw
    _out(out, json_out)


# -- passes -------------------------------------------------------------------------------------

PASS_FIELDS = ["pass_hash", "cti", "role", "initials", "birth_year", "business_id", "status",
               "issued_at", "expires_at"]


@passes_app.command("issue")
def passes_issue(role: Annotated[int, typer.Option(help="0 resident, 1 worker, 2 shipper, 3 official, 4 shopper")],
                 initials: Annotated[str, typer.Option()], birth_year: Annotated[int, typer.Option()],
                 business: Annotated[Optional[str], typer.Option()] = None,
                 valid_days: int = 30, doses: Optional[int] = None,
                 last_dose: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD")] = None,
                 card: Annotated[Optional[Path], typer.Option(help="also write the printable card PDF")] = None,
                 db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Issue a pass with the district issuer key; prints the QR text once."""
    import datetime as dt

    from fleet.services import passes as svc

    req = svc.PassRequest(role=role, initials=initials, birth_year=birth_year, valid_days=valid_days,
                          business_id=business, doses=doses,
                          last_dose=dt.date.fromisoformat(last_dose) if last_dose else None)
    with _session(db) as (s, settings):
        row, text = svc.issue_pass(s, settings, req, ACTOR)
        out = {**_row(row, PASS_FIELDS), "qr_text": text}
        if card:
            card.write_bytes(svc.card_pdf(row, text))
            out["card"] = str(card)
    _out(out, json_out, ["pass_hash", "qr_text"])


@passes_app.command("list")
def passes_list(db: DbOpt = None, json_out: JsonOpt = False,
                business: Annotated[Optional[str], typer.Option()] = None, limit: int = 100) -> None:
    from sqlalchemy import select

    from fleet.models import Pass

    with _session(db) as (s, _):
        q = select(Pass).order_by(Pass.id.desc()).limit(limit)
        if business:
            q = q.where(Pass.business_id == business)
        rows = [_row(p, PASS_FIELDS) for p in s.scalars(q)]
    _out(rows, json_out, ["pass_hash", "role", "initials", "status", "expires_at"])


# -- revocations -----------------------------------------------------------------------------------

@revocations_app.command("list")
def revocations_list(db: DbOpt = None, json_out: JsonOpt = False, since_version: int = 0) -> None:
    from sqlalchemy import select

    from fleet.models import Revocation

    with _session(db) as (s, _):
        rows = [_row(r, ["pass_hash", "reason", "version", "created_by", "created_at", "active",
                         "lift_reason", "lifted_by", "lifted_at"])
                for r in s.scalars(select(Revocation).where(Revocation.version > since_version)
                                   .order_by(Revocation.version))]
    _out(rows, json_out, ["version", "pass_hash", "reason", "active"])


@revocations_app.command("add")
def revocations_add(pass_hash: Annotated[Optional[str], typer.Argument(help="pass hash (32 hex)")] = None,
                    reason: Annotated[str, typer.Option(help="F0, LOST, FRAUD, STATUS_CHANGED, OTHER")] = "",
                    uci: Annotated[Optional[str], typer.Option(help="EU DCC: certificate identifier (ci)")] = None,
                    country: Annotated[Optional[str], typer.Option(help="EU DCC: issuing country, e.g. VN")] = None,
                    db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Revoke a pass, or an EU DCC by --uci and --country (its two EU
    revocation hashes); the next bridge publish carries it to every gate."""
    from fleet.services import revocations

    if (pass_hash is None) == (uci is None) or (uci is not None) != (country is not None):
        _fail(errors.BadRequest("give a pass hash, or --uci with --country / nhập mã thẻ, hoặc "
                                "--uci cùng --country", code="BAD_ARGUMENTS"))
    with _session(db) as (s, _):
        rows = ([revocations.revoke(s, pass_hash, reason, ACTOR)] if uci is None
                else revocations.revoke_dcc(s, uci, country, reason, ACTOR))
        out = [_row(r, ["pass_hash", "reason", "version"]) for r in rows]
    _out(out[0] if uci is None else out, json_out)


@revocations_app.command("lift")
def revocations_lift(pass_hash: str,
                     reason: Annotated[str, typer.Option(help="ERROR, RECOVERED, FOUND, OTHER")],
                     db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Lift a revocation; the next delta removes it on every gate."""
    from fleet.services import revocations

    with _session(db) as (s, _):
        r = revocations.lift(s, pass_hash, reason, ACTOR)
        out = _row(r, ["pass_hash", "lift_reason", "version", "active"])
    _out(out, json_out)


# -- EU DCC signers ----------------------------------------------------------------------------------

@dcc_app.command("import")
def dcc_import(file: Annotated[Path, typer.Argument(help="DSC trust list JSON {\"certificates\": [...]}")],
               db: DbOpt = None, json_out: JsonOpt = False,
               allow_empty: Annotated[bool, typer.Option(help="accept a list with no usable signer "
                                                              "(removes every trusted DSC)")] = False) -> None:
    """Replace the trusted DSCs with this list's valid ones and push them to every gate."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from fleet.services import dcc

    try:
        data = file.read_bytes()
    except OSError as e:
        _fail(errors.BadRequest(f"cannot read {file} / không đọc được tệp: {e.strerror}", code="DCC_FILE"))
    err = Console(stderr=True)
    with _session(db) as (s, _), Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("kiểm tra / checking", total=None)
        report = dcc.import_trustlist(s, data, file.name, ACTOR,
                                      progress=lambda done, total: bar.update(task, completed=done, total=total),
                                      allow_empty=allow_empty)
    for r in report.refused:
        typer.echo(f"refused [{r.code}] {r.country or '??'} kid {r.kid_b64 or '?'}: {r.detail}", err=True)
    if json_out:
        _out(report.as_dict(), True)
        return
    typer.echo(f"version {report.version}{'' if report.changed else ' (unchanged / không đổi)'}: "
               f"{report.accepted} accepted / chấp nhận, {len(report.refused)} refused / từ chối, "
               f"+{len(report.added)} -{len(report.removed)}")
    typer.echo("country\tes256\tps256\trefused")
    for country, c in report.countries.items():
        typer.echo(f"{country}\t{c['es256']}\t{c['ps256']}\t{c['refused']}")


def _iso(t: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


DCC_FIELDS = ["kid", "country", "alg", "types", "not_before", "not_after", "subject", "source", "imported_at",
              "active", "version"]


@dcc_app.command("list")
def dcc_list(db: DbOpt = None, json_out: JsonOpt = False,
             country: Annotated[Optional[str], typer.Option(help="two letters, e.g. VN")] = None,
             all_rows: Annotated[bool, typer.Option("--all", help="also signers no longer trusted")] = False) -> None:
    """Trusted DSCs (kid, country, algorithm, allowed types, validity)."""
    from sqlalchemy import select

    from fleet.models import DccSigner
    from fleet.services import dcc

    with _session(db) as (s, _):
        q = select(DccSigner).order_by(DccSigner.country, DccSigner.kid)
        if not all_rows:
            q = q.where(DccSigner.active.is_(True))
        if country:
            q = q.where(DccSigner.country == country.upper())
        rows = [{**_row(r, DCC_FIELDS), "alg": dcc.ALG_NAME.get(r.alg, r.alg), "types": r.types or "vtr",
                 "not_before": _iso(r.not_before), "not_after": _iso(r.not_after)} for r in s.scalars(q)]
    _out(rows, json_out, ["kid", "country", "alg", "types", "not_after"])


# -- scan rollup ---------------------------------------------------------------------------------

@app.command("rollup")
def rollup_cmd(db: DbOpt = None, json_out: JsonOpt = False,
               since: Annotated[Optional[int], typer.Option(
                   help="recount only the hours from this unix time on (default: all)")] = None,
               check: Annotated[bool, typer.Option(
                   "--check", help="only compare the counters with the scans; exit 1 if they differ")] = False,
               ) -> None:
    """Recount the hourly scan rollup (scan_hourly) from the stored scans.

    Ingest keeps it up to date; run this for scans stored before it existed
    (the 0008 migration already did once) or to repair it. Ingest waits while it runs."""
    from fleet.services import rollup

    with _session(db) as (s, _):
        if check:
            bad = rollup.drift(s)
            _out({"differing_counters": bad}, json_out)
            if bad:
                raise typer.Exit(1)
            return
        n = rollup.backfill(s, since=since)
    _out({"counters": n}, json_out)
    typer.echo(f"rollup recounted: {n} counters", err=True)


# -- firmware releases and campaigns (fleet/cli_ota.py) ------------------------------------------

from fleet import cli_ota  # noqa: E402,F401  (its commands go on release_app / campaign_app)


def main() -> None:  # `python -m fleet.cli`
    app()


if __name__ == "__main__":
    main()
