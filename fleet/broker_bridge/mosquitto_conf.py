"""Production mosquitto 2 configuration, generated from the fleet database.

- Password file in mosquitto_passwd's own format: `user:$7$<iterations>$<salt
  b64>$<PBKDF2-SHA512 b64>` (what Debian's mosquitto 2 `mosquitto_passwd`
  writes: 12-byte salt, 64-byte hash, 101 iterations by default). It
  authenticates every account and is re-read on SIGHUP (account_sync.py).
- Identities and topic rights through the dynamic-security plugin that Debian
  ships (docs/fleet.md "Broker identities" says why not `acl_file`): every
  account is bound to client id = username, a device may subscribe/publish
  only on its own topics and read the fleet-wide trust and revocation
  topics; `$share/...`, `#`, `+` and other devices' topics are refused in the
  SUBACK. Its accounts carry no password (the password file answers), so
  the fleet can add a device at run time over `$CONTROL` without knowing any
  secret. The fleet accounts are `fleet-bridge-1..N` (one per bridge worker:
  the username is the client id) and `fleet-accounts` (keeps the plugin's
  device list equal to the registry); all share the bridge password.
- Persistence on, clean-session-friendly limits, and `max_queued_messages`
  high enough that a QoS 1 burst to a slow bridge is queued, not dropped
  (Debian's default 1000 lost ~90% of a 20,000-message burst).
- Optional TLS listener (CA, server certificate and key paths).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import topics

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default; stored in each hash
SALT_LEN = 12
FLEET_PREFIX = "fleet-"  # the fleet's own accounts; devices are "gg-" + 12 hex
BRIDGE_USER = "fleet-bridge-1"  # the first bridge worker (`greengate fleet serve`)
ACCOUNTS_USER = "fleet-accounts"  # keeps the dynamic-security device list in sync
DEFAULT_BRIDGE_WORKERS = 4
MAX_QUEUED_MESSAGES = 1_000_000
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"  # Debian amd64
DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
DEVICE_USERNAME = re.compile(r"^gg-[0-9a-f]{12}$")
# a device's own topics (docs/protocol.md section 2.1)
DEVICE_WRITE = ("scans", "state", "reply", "fetch")
DEVICE_READ = ("cmd", "config", "blob", "ack", "ota")
FLEET_READ = (topics.TRUST, topics.REVOCATION)


def bridge_users(workers: int = DEFAULT_BRIDGE_WORKERS) -> list[str]:
    """One account per bridge worker: the username is its client id."""
    return [f"{FLEET_PREFIX}bridge-{i}" for i in range(1, workers + 1)]


def dynsec_plugin() -> str:
    """Debian's mosquitto package puts the plugin under its multiarch directory."""
    found = sorted(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))
    return str(found[0]) if found else DYNSEC_PLUGIN


def is_fleet_user(username: str | None) -> bool:
    return bool(username) and username.startswith(FLEET_PREFIX)


def password_hash(password: str, *, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = salt if salt is not None else os.urandom(SALT_LEN)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password_hash(stored: str, password: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]), len(want))
    return hmac.compare_digest(got, want)


@dataclass(frozen=True)
class DeviceAccount:
    username: str        # = device id
    password_hash: str   # "$7$..." line part
    site_id: int | None


@dataclass(frozen=True)
class TlsFiles:
    cafile: Path
    certfile: Path
    keyfile: Path
    port: int = 8883
    require_certificate: bool = False


def fleet_users(workers: int = DEFAULT_BRIDGE_WORKERS) -> list[str]:
    return [*bridge_users(workers), ACCOUNTS_USER]


def render_passwd(devices: Iterable[DeviceAccount], fleet_lines: dict[str, str]) -> str:
    """fleet_lines: fleet username -> its "$7$" hash (kept first, as given)."""
    lines = [f"{u}:{h}" for u, h in fleet_lines.items()]
    for d in devices:
        check_device_username(d.username)
        lines.append(f"{d.username}:{d.password_hash}")
    return "\n".join(lines) + "\n"


def check_device_username(username: str) -> None:
    # it becomes a topic level in the device's rights: "+", "#" or "/" would widen them
    if not DEVICE_USERNAME.match(username):
        raise ValueError(f"bad device MQTT username {username!r}")


def _acl(kind: str, topic: str) -> dict:
    return {"acltype": kind, "topic": topic, "allow": True}


FLEET_ROLE = "fleet"
ACCOUNTS_ROLE = "fleet-accounts"
GATE_ROLE = "gate"  # what every device may read: the fleet-wide topics


def _read_exactly(names: Iterable[str]) -> list[dict]:
    """Exact topics only (subscribeLiteral): a filter with `+`, `#` or a
    `$share/` prefix never equals one of them, so it is refused."""
    return [_acl(kind, t) for t in names for kind in ("subscribeLiteral", "publishClientReceive")]


def device_role(username: str) -> dict:
    check_device_username(username)
    own = f"{topics.ROOT}/dev/{username}"
    return {"rolename": username,
            "acls": [_acl("publishClientSend", f"{own}/{t}") for t in DEVICE_WRITE]
            + _read_exactly(f"{own}/{t}" for t in DEVICE_READ)}


def device_client(username: str) -> dict:
    # no password: the password file authenticates; the plugin binds the client id
    return {"username": username, "clientid": username,
            "roles": [{"rolename": username}, {"rolename": GATE_ROLE}]}


def render_dynsec(devices: Iterable[DeviceAccount], workers: int = DEFAULT_BRIDGE_WORKERS) -> str:
    """The dynamic-security plugin's file (docs/protocol.md section 2.1)."""
    r = topics.ROOT
    shared = topics.shared(r)
    fleet_acls = [_acl("publishClientSend", f"{r}/#"), _acl("publishClientReceive", f"{r}/#"),
                  _acl("subscribePattern", f"{r}/#"), _acl("subscribePattern", f"{shared}/#")]
    ctl = "$CONTROL/dynamic-security/#"
    accounts_acls = [_acl("publishClientSend", ctl), _acl("publishClientReceive", ctl),
                     _acl("subscribePattern", ctl)]
    devices = list(devices)
    doc = {
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                             "subscribe": False, "unsubscribe": True},
        "clients": [{"username": u, "clientid": u, "roles": [{"rolename": FLEET_ROLE}]}
                    for u in bridge_users(workers)]
        + [{"username": ACCOUNTS_USER, "clientid": ACCOUNTS_USER,
            "roles": [{"rolename": ACCOUNTS_ROLE}]}]
        + [device_client(d.username) for d in devices],
        "roles": [{"rolename": FLEET_ROLE, "acls": fleet_acls},
                  {"rolename": ACCOUNTS_ROLE, "acls": accounts_acls},
                  {"rolename": GATE_ROLE, "acls": _read_exactly(FLEET_READ)}]
        + [device_role(d.username) for d in devices],
        "groups": [],
    }
    return json.dumps(doc, indent=1) + "\n"


def render_conf(*, port: int, data_dir: Path, passwd_file: Path, dynsec_file: Path,
                tls: TlsFiles | None = None, bind: str = "0.0.0.0",
                plain_listener: bool = True, run_as: str | None = None) -> str:
    out = [
        "# Generated by greengate fleet: do not edit by hand.",
        "per_listener_settings false",
        # started as root, mosquitto drops to this user (Debian: "mosquitto")
        *([f"user {run_as}"] if run_as else []),
        "allow_anonymous false",
        f"password_file {passwd_file}",
        # no acl_file: with one, mosquitto 2.0.11 granted every SUBSCRIBE (docs/fleet.md)
        f"plugin {dynsec_plugin()}",
        f"plugin_opt_config_file {dynsec_file}",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 60",
        # QoS 1 bursts (an outbox flushing after an outage) must queue, not drop.
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        "max_queued_bytes 0",
        "max_inflight_messages 100",
        "max_packet_size 65536",
        # a scan batch's PUBACK and the fleet's ack are small packets: with
        # Nagle they wait for the peer's delayed TCP ACK (~15x slower drain)
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error", "log_type warning", "log_type notice",
        "connection_messages true",
    ]
    if plain_listener:
        out.append(f"listener {port} {bind}")
    if tls is not None:
        out += [
            f"listener {tls.port} {bind}",
            f"cafile {tls.cafile}",
            f"certfile {tls.certfile}",
            f"keyfile {tls.keyfile}",
            "tls_version tlsv1.2",
            f"require_certificate {'true' if tls.require_certificate else 'false'}",
        ]
    return "\n".join(out) + "\n"


def write_config(out_dir: Path, devices: list[DeviceAccount], bridge_password: str, *,
                 port: int = 1883, tls: TlsFiles | None = None, bind: str = "0.0.0.0",
                 plain_listener: bool = True, run_as: str | None = None,
                 bridge_workers: int = DEFAULT_BRIDGE_WORKERS) -> Path:
    """Write mosquitto.conf, passwd and dynamic-security.json into out_dir;
    returns the conf path. The plugin saves its file itself after run-time
    changes (account_sync.py), so mosquitto must be able to write it."""
    out_dir = Path(out_dir)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    passwd, dynsec, conf = out_dir / "passwd", out_dir / "dynamic-security.json", out_dir / "mosquitto.conf"
    bridge_hash = password_hash(bridge_password)
    fleet = {u: bridge_hash for u in fleet_users(bridge_workers)}
    for path, text in ((passwd, render_passwd(devices, fleet)),
                       (dynsec, render_dynsec(devices, bridge_workers))):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    conf.write_text(render_conf(port=port, data_dir=out_dir / "data", passwd_file=passwd,
                                dynsec_file=dynsec, tls=tls, bind=bind,
                                plain_listener=plain_listener, run_as=run_as))
    return conf


def device_accounts(db) -> list[DeviceAccount]:  # noqa: ANN001 (a SQLAlchemy Session)
    """Every active device of the fleet database as a broker account."""
    from sqlalchemy import select

    from fleet.models import Device

    rows = db.scalars(select(Device).where(Device.status == "active").order_by(Device.id))
    return [DeviceAccount(d.mqtt_username, d.mqtt_password_hash, d.site_id) for d in rows]
