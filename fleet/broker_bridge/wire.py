"""Wire forms of the MQTT messages (docs/protocol.md): decoding what devices
send (CBOR maps with small int keys) into the fleet's named dicts, and
signing what the fleet sends (greengate.control envelopes, blob references).
Pure functions: no sockets, no database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.core import errors
from greengate.control import blobs, envelope
from greengate.control import dcc as ggdcc
from greengate.passes import keys as gk

from . import schema
from .schema import MAX_PAYLOAD, MAX_SCANS, WireError  # noqa: F401  (their home was here)

TZ_OFFSET = 25200           # UTC+7, Ho Chi Minh City
# valid_until - issued_at per kind. Lists are re-signed every 12 h (5.4) and the
# device's max_age (1 day) decides staleness; valid_until is the hard stop.
# An OTA offer goes to an online gate (not retained); the campaign engine sends
# it again after 10 minutes without a report (fleet/services/ota.py).
VALIDITY_S = {"config": 2 * 86400, "trust": 2 * 86400, "revocation": 2 * 86400, "dcc": 2 * 86400,
              "command": 120, "ota": 86400}
ENVELOPE_KIND = {"config": envelope.KIND_CONFIG, "trust": envelope.KIND_TRUST,
                 "revocation": envelope.KIND_REVOCATION, "dcc": ggdcc.KIND_DCC,
                 "command": envelope.KIND_COMMAND, "ota": envelope.KIND_OTA}
COMMAND_CODES = {"sync": 1, "open_gate": 2, "show_message": 3, "reboot": 4, "screenshot": 5}
# JSON argument names -> the protocol's int keys, per command
COMMAND_ARGS = {"open_gate": {"seconds": 1}, "show_message": {"vi": 1, "en": 2, "seconds": 3},
                "screenshot": {"chunk_size": 1}}


# -- device -> fleet (the checks are fleet/broker_bridge/schema.py) -------------------

def decode_scan_batch(device_id: str, payload: bytes) -> list[dict]:
    """Protocol 4.1, all entries valid: named dicts (pass_hash as hex)."""
    batch = schema.scan_batch(device_id, payload)
    if batch.bad:
        raise WireError(batch.bad[0], code=schema.CODES["scans"])
    return batch.events


def decode_state(payload: bytes) -> dict:
    """Protocol 4.2 (retained; the Last Will is {1: false}) -> named fields for
    fleet.services.devices.apply_state."""
    return schema.state(payload)


def decode_reply(payload: bytes) -> dict:
    """Protocol 4.3 -> {"id", "status", "detail", "chunk", "data", "sha256"}."""
    return schema.reply(payload)


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
        if body.get("formats"):  # key 9 (issue 13): absent = GG1 only, as older gates expect
            wire[9] = sorted(set(body["formats"]))
        return wire, envelope.site_scope(str(body["site"]))
    if kind == "trust":
        keys = [[bytes.fromhex(k["kid"]), bytes.fromhex(k["public_key"]), k["iss"], 0]
                for k in body["keys"]]
        return keys, envelope.fleet_scope()
    if kind == "revocation":
        snap = blob(body["snapshot"])
        delta = blob(body["delta"]) if body.get("delta") else None
        return {1: blobs.blob_ref(snap), 2: blobs.blob_ref(delta) if delta else None}, envelope.fleet_scope()
    if kind == "dcc":
        delta = blob(body["delta"]) if body.get("delta") else None
        return ggdcc.dcc_body(blob(body["snapshot"]), delta), envelope.fleet_scope()
    if kind == "command":
        names = COMMAND_ARGS.get(body["command"], {})
        args = {names[k]: v for k, v in (body.get("args") or {}).items() if k in names}
        return {1: COMMAND_CODES[body["command"]], 2: args}, envelope.device_scope(body["device"])
    if kind == "ota":  # greengate.ota.offer.offer_body, stored once per campaign as a blob
        return cbor2.loads(blob(body["offer"])), envelope.device_scope(body["device"])
    raise ValueError(f"unknown control kind {kind!r}")


def sign_control(kind: str, version: int, body: dict, fleet_key: Ed25519PrivateKey,
                 blob: BlobLookup, now: int | None = None) -> bytes:
    now = int(time.time() if now is None else now)
    wire, scope = control_parts(kind, version, body, blob)
    return envelope.sign_message(ENVELOPE_KIND[kind], version, wire, scope, fleet_key, now,
                                 now + VALIDITY_S[kind])


# -- end-to-end acknowledgement (protocol 4.4) -----------------------------------------

def ack_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous [first, last] ranges covering `seqs` (sorted, merged)."""
    out: list[list[int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return [(a, b) for a, b in out]


def encode_ack(first: int, last: int) -> bytes:
    """{1: first_seq, 2: last_seq}: committed (scans or dead letters) by the fleet."""
    return cbor2.dumps({1: first, 2: last})
