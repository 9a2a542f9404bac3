"""Wire forms of the MQTT messages (docs/protocol.md): decoding what devices
send (CBOR maps with small int keys) into the fleet's named dicts, and
signing what the fleet sends (greengate.control envelopes, blob references).
Pure functions: no sockets, no database."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.core import errors
from greengate.control import blobs, envelope
from greengate.passes import keys as gk

MAX_PAYLOAD = 8 * 1024      # device messages are <= 1 KiB; anything far bigger is refused
MAX_SCANS = 30              # protocol 4.1
TZ_OFFSET = 25200           # UTC+7, Ho Chi Minh City
# valid_until - issued_at per kind. Lists are re-signed every 12 h (5.4) and the
# device's max_age (1 day) decides staleness; valid_until is the hard stop.
VALIDITY_S = {"config": 2 * 86400, "trust": 2 * 86400, "revocation": 2 * 86400, "command": 120}
ENVELOPE_KIND = {"config": envelope.KIND_CONFIG, "trust": envelope.KIND_TRUST,
                 "revocation": envelope.KIND_REVOCATION, "command": envelope.KIND_COMMAND}
COMMAND_CODES = {"sync": 1, "open_gate": 2, "show_message": 3, "reboot": 4, "screenshot": 5}
# JSON argument names -> the protocol's int keys, per command
COMMAND_ARGS = {"open_gate": {"seconds": 1}, "show_message": {"vi": 1, "en": 2, "seconds": 3},
                "screenshot": {"chunk_size": 1}}


class WireError(errors.BadRequest):
    code = "BAD_MESSAGE"


def _loads(payload: bytes) -> Any:
    if len(payload) > MAX_PAYLOAD:
        raise WireError("message too large")
    try:
        return cbor2.loads(payload)
    except Exception as e:  # cbor2 raises several error types on garbage
        raise WireError(f"not CBOR: {type(e).__name__}") from None


def _map(obj: Any, what: str) -> dict:
    if not hasattr(obj, "items"):  # dict or cbor2's frozendict
        raise WireError(f"{what} must be a map")
    return dict(obj.items())


# -- device -> fleet ---------------------------------------------------------------

def decode_scan_batch(device_id: str, payload: bytes) -> list[dict]:
    """Protocol 4.1: {1: device_id, 2: [[seq, time, time_valid, pass_hash|null,
    verdict, reason], ...] (1..30), 3: sent_at}. Returns dicts for
    fleet.services.scans.validate_event (which checks every field)."""
    m = _map(_loads(payload), "scan batch")
    if m.get(1) != device_id:
        raise WireError("scan batch names another device than its topic")
    scans = m.get(2)
    if not isinstance(scans, (list, tuple)) or not 1 <= len(scans) <= MAX_SCANS:
        raise WireError(f"scan batch needs 1..{MAX_SCANS} scans")
    out = []
    for s in scans:
        if not isinstance(s, (list, tuple)) or len(s) != 6:
            raise WireError("scan entry must be a 6-element array")
        seq, t, tv, h, verdict, reason = s
        if h is not None and not (isinstance(h, bytes) and len(h) == 16):
            raise WireError("scan entry: pass hash must be 16 bytes or null")
        out.append({"seq": seq, "time": t, "time_valid": tv, "pass_hash": h.hex() if h else None,
                    "verdict": verdict, "reason": reason})
    return out


def decode_state(payload: bytes) -> dict:
    """Protocol 4.2 (retained; the Last Will is {1: false}) -> named fields for
    fleet.services.devices.apply_state."""
    m = _map(_loads(payload), "device state")
    if type(m.get(1)) is not bool:
        raise WireError("device state needs a boolean online (key 1)")
    out: dict[str, Any] = {"online": m[1]}
    if isinstance(m.get(2), str):
        out["firmware"] = m[2]
    applied = m.get(3)
    if hasattr(applied, "items"):
        for kind, name in ((1, "config_version"), (2, "trust_version"), (3, "revocation_version")):
            if type(applied.get(kind)) is int:
                out[name] = applied[kind]
    for key, name in ((4, "outbox_depth"), (5, "dropped")):
        if type(m.get(key)) is int:
            out[name] = m[key]
    if m.get(6) is True and type(m.get(8)) is int:  # a trusted device clock: drift is meaningful
        out["clock"] = m[8]
    err = m.get(12)
    if isinstance(err, (list, tuple)) and len(err) == 3 and all(type(x) is int for x in err):
        out["last_control_error"] = list(err)
    elif 12 in m and err is None:  # the gate says: no error (any more)
        out["last_control_error"] = None
    return out


def decode_reply(payload: bytes) -> dict:
    """Protocol 4.3 -> {"id", "status", "detail", "chunk": (i, n) | None,
    "data": bytes | None, "sha256": bytes | None}."""
    m = _map(_loads(payload), "command reply")
    if type(m.get(1)) is not int or type(m.get(2)) is not int:
        raise WireError("command reply needs int version (1) and status (2)")
    detail = m.get(3) if isinstance(m.get(3), str) else ""
    chunk = m.get(4)
    if chunk is not None:
        if not (isinstance(chunk, (list, tuple)) and len(chunk) == 2 and all(type(x) is int for x in chunk)
                and 0 <= chunk[0] < chunk[1] <= 100_000):
            raise WireError("reply chunk must be [index, count]")
        if not isinstance(m.get(5), bytes) or len(m[5]) > 1024:
            raise WireError("reply chunk data must be bytes <= 1024")
    sha = m.get(6)
    if sha is not None and not (isinstance(sha, bytes) and len(sha) == 32):
        raise WireError("reply sha256 must be 32 bytes")
    return {"id": m[1], "status": m[2], "detail": detail[:64],
            "chunk": tuple(chunk) if chunk is not None else None,
            "data": m.get(5) if chunk is not None else None, "sha256": sha}


# -- fleet -> device ------------------------------------------------------------------

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


def int_keys(obj: Any) -> Any:
    """JSON objects have text keys; the protocol's maps have int keys."""
    if isinstance(obj, dict):
        return {(int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k): int_keys(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [int_keys(v) for v in obj]
    return obj


BlobLookup = Callable[[str], bytes]


def control_parts(kind: str, version: int, body: dict, blob: BlobLookup) -> tuple[Any, list]:
    """(wire body, scope) of an outbox row."""
    if kind == "config":
        allow = blob(body["allowlist"]) if body.get("allowlist") else None
        wire = {1: str(body["site"]), 2: body.get("business"), 3: TZ_OFFSET,
                4: bool(body["suspended"]), 5: int_keys(body.get("rules") or []),
                6: blobs.blob_ref(allow) if allow else None,
                7: {1: 86400, 2: 86400, 3: 86400},
                8: {1: body.get("name") or "", 2: body.get("name_en") or body.get("name") or ""}}
        return wire, envelope.site_scope(str(body["site"]))
    if kind == "trust":
        keys = [[bytes.fromhex(k["kid"]), bytes.fromhex(k["public_key"]), k["iss"], 0]
                for k in body["keys"]]
        return keys, envelope.fleet_scope()
    if kind == "revocation":
        snap = blob(body["snapshot"])
        delta = blob(body["delta"]) if body.get("delta") else None
        return {1: blobs.blob_ref(snap), 2: blobs.blob_ref(delta) if delta else None}, envelope.fleet_scope()
    if kind == "command":
        names = COMMAND_ARGS.get(body["command"], {})
        args = {names[k]: v for k, v in (body.get("args") or {}).items() if k in names}
        return {1: COMMAND_CODES[body["command"]], 2: args}, envelope.device_scope(body["device"])
    raise ValueError(f"unknown control kind {kind!r}")


def sign_control(kind: str, version: int, body: dict, fleet_key: Ed25519PrivateKey,
                 blob: BlobLookup, now: int | None = None) -> bytes:
    now = int(time.time() if now is None else now)
    wire, scope = control_parts(kind, version, body, blob)
    return envelope.sign_message(ENVELOPE_KIND[kind], version, wire, scope, fleet_key, now,
                                 now + VALIDITY_S[kind])
