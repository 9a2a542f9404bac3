"""Wire forms of the MQTT messages (docs/protocol.md): decoding what devices
send (CBOR), and signing what the fleet sends (greengate/control envelopes).
Everything here is pure: no sockets, no database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.core import errors
from greengate.control import envelope
from greengate.passes import keys as gk

MAX_PAYLOAD = 64 * 1024
# How long a signed control message stays valid on a gate (valid_until).
VALIDITY_S = {"config": 7 * 86400, "trust": 30 * 86400, "revocation_snapshot": 2 * 86400,
              "revocation_delta": 2 * 86400, "command": 600}


class WireError(errors.BadRequest):
    code = "BAD_MESSAGE"


def _loads(payload: bytes) -> Any:
    if len(payload) > MAX_PAYLOAD:
        raise WireError("message too large")
    try:
        return cbor2.loads(payload)
    except Exception as e:  # cbor2 raises several error types on garbage
        raise WireError(f"not CBOR: {type(e).__name__}") from None


def decode_scan_batch(device_id: str, payload: bytes) -> list[dict]:
    """firmware/net/reporter.py encode_batch: {"device": id, "scans": [{"seq",
    "time", "time_valid", "pass" (16 bytes or null), "verdict", "reason"}]}.
    Returns the events in fleet.services.scans.validate_event's input form."""
    m = _loads(payload)
    if not isinstance(m, dict) or not isinstance(m.get("scans"), list):
        raise WireError("scan batch must be a map with a 'scans' array")
    if m.get("device") != device_id:
        raise WireError("scan batch names another device than its topic")
    out = []
    for e in m["scans"]:
        if not isinstance(e, dict):
            raise WireError("scan entry is not a map")
        h = e.get("pass")
        if h is not None and not (isinstance(h, bytes) and len(h) == 16):
            raise WireError("scan entry: pass must be 16 bytes or null")
        out.append({"seq": e.get("seq"), "time": e.get("time"), "time_valid": e.get("time_valid"),
                    "pass_hash": h.hex() if h else None, "verdict": e.get("verdict"),
                    "reason": e.get("reason")})
    return out


def decode_state(payload: bytes) -> dict:
    """Retained device state (and its Last Will {"online": false})."""
    m = _loads(payload)
    if not isinstance(m, dict) or type(m.get("online")) is not bool:
        raise WireError("device state must be a map with a boolean 'online'")
    out = {k: v for k, v in m.items() if isinstance(k, str)}
    out.setdefault("firmware", m.get("fw"))
    return out


def decode_reply(payload: bytes) -> dict:
    m = _loads(payload)
    if not isinstance(m, dict):
        raise WireError("command reply must be a map")
    return m


# -- fleet -> device ------------------------------------------------------------

def load_or_create_fleet_key(path: Path, create: bool) -> Ed25519PrivateKey:
    path = Path(path)
    if not path.exists():
        if not create:
            raise errors.ConfigError(f"fleet signing key {path} missing (GREENGATE_FLEET_KEY_PATH)",
                                     code="NO_FLEET_KEY")
        path.parent.mkdir(parents=True, exist_ok=True)
        gk.save_private_key(path, gk.generate())
    try:
        return gk.load_private_key(path)
    except gk.TrustFileError as e:
        raise errors.ConfigError(str(e), code="BAD_FLEET_KEY") from None


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in values]


def control_parts(kind: str, body: dict) -> tuple[int, int, Any, list]:
    """(envelope kind, version, wire body, scope) for an outbox row."""
    if kind == "config":
        wire = {k: v for k, v in body.items() if k != "allowlist"}
        wire["allowlist"] = _hashes(body.get("allowlist", []))
        return envelope.KIND_CONFIG, body["version"], wire, envelope.site_scope(str(body["site"]))
    if kind == "trust":
        keys = [[bytes.fromhex(k["kid"]), bytes.fromhex(k["public_key"]), k["iss"], 0]
                for k in body["keys"]]
        return envelope.KIND_TRUST, body["version"], keys, envelope.fleet_scope()
    if kind == "revocation_snapshot":
        return (envelope.KIND_REVOCATION, body["version"],
                {"snapshot": True, "version": body["version"], "hashes": _hashes(body["hashes"])},
                envelope.fleet_scope())
    if kind == "revocation_delta":
        return (envelope.KIND_REVOCATION, body["version"],
                {"base": body["base"], "version": body["version"], "added": _hashes(body["added"]),
                 "removed": _hashes(body.get("removed", []))},
                envelope.fleet_scope())
    if kind == "command":
        return (envelope.KIND_COMMAND, body["id"],
                {"id": body["id"], "command": body["command"], "args": body.get("args", {})},
                envelope.device_scope(body["device"]))
    raise ValueError(f"unknown control kind {kind!r}")


def sign_control(kind: str, body: dict, fleet_key: Ed25519PrivateKey,
                 now: int | None = None) -> bytes:
    now = int(time.time() if now is None else now)
    env_kind, version, wire, scope = control_parts(kind, body)
    return envelope.sign_message(env_kind, version, wire, scope, fleet_key, now,
                                 now + VALIDITY_S[kind])
