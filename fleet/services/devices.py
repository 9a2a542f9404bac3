"""Device-reported state (bridge side): heartbeat / Last Will, applied
versions, outbox depth, clock drift, tamper; and command replies."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.models import CommandReply, Device, utcnow

from . import alerts, ota

# A refused control message that was not signed by the fleet (CTRL_UNSIGNED,
# CTRL_SIGNATURE: firmware/verify/reasons.py) means someone is injecting
# messages into the gate's control channel: a tamper alert, not drift.
_TAMPER_REASONS = (40, 41)

_INT_FIELDS = ("config_version", "revocation_version", "trust_version", "outbox_depth", "dropped",
               "dcc_version", "dcc_keys")


def apply_state(db: Session, device_id: str, state: object, now: float | None = None) -> Device:
    """`state`: fleet/broker_bridge/wire.decode_state's named form: {"online":
    bool, "firmware"?, "config_version"?, "trust_version"?, "revocation_version"?,
    "dcc_version"?, "dcc_keys"? (DCC signer table, state key 16), "outbox_depth"?, "dropped"?,
    "clock"? (device unix time, only when its clock is trusted), "last_control_error"? [kind,
    reason, version], "tamper"?, "ota"? [release, phase, percent, reason, campaign] (state key 15)}."""
    if not isinstance(state, dict) or type(state.get("online")) is not bool:
        raise errors.BadRequest("device state must be a map with a boolean 'online'",
                                code="BAD_STATE")
    device = db.get(Device, device_id)
    if device is None:
        raise errors.NotFound(f"unknown device {device_id}", code="UNKNOWN_DEVICE")
    now = time.time() if now is None else now
    device.online = state["online"]
    device.last_seen = utcnow()
    fw = state.get("firmware")
    if isinstance(fw, str) and 0 < len(fw) <= 64:
        device.firmware = fw
    for key in _INT_FIELDS:
        v = state.get(key)
        if type(v) is int and 0 <= v < 1 << 31:
            setattr(device, key, v)
    clock = state.get("clock")
    if type(clock) is int and 0 < clock < 1 << 32:
        device.clock_drift_s = float(clock - now)
    if "last_control_error" in state:
        err = state["last_control_error"]
        valid = isinstance(err, list) and len(err) == 3 and all(type(x) is int for x in err)
        # a refusal the fleet has not seen yet (state reports repeat the last
        # error until the next good message): one more on its grouped alert
        if valid and err[1] != 0 and err != device.last_control_error:
            alerts.control_refused(db, device, err)
        device.last_control_error = err
        if valid and err[1] in _TAMPER_REASONS:
            device.tamper = True
    if type(state.get("tamper")) is bool:
        device.tamper = state["tamper"]
    if state.get("ota") is not None:  # [release, phase, percent, reason, campaign], schema-checked
        ota.apply_report(db, device_id, state["ota"])
    return device


def store_reply(db: Session, device_id: str, reply: dict) -> CommandReply:
    """`reply`: wire.decode_reply's form. Chunked data (screenshots) is stored
    per chunk; a re-delivered chunk is stored once."""
    idx, count = reply["chunk"] if reply.get("chunk") else (None, None)
    if idx is not None:
        existing = db.scalar(select(CommandReply).where(
            CommandReply.device_id == device_id, CommandReply.command_id == reply["id"],
            CommandReply.chunk_index == idx))
        if existing is not None:
            return existing
    row = CommandReply(device_id=device_id, command_id=reply["id"], status=reply["status"],
                       detail=reply.get("detail", "")[:64], chunk_index=idx, chunk_count=count,
                       data=reply.get("data"), sha256=reply.get("sha256"))
    db.add(row)
    return row


def reply_data(db: Session, device_id: str, command_id: int) -> bytes | None:
    """The whole chunked data of a reply, if every chunk arrived and the
    SHA-256 sent in chunk 0 matches; else None."""
    rows = db.scalars(select(CommandReply).where(
        CommandReply.device_id == device_id, CommandReply.command_id == command_id,
        CommandReply.chunk_index.is_not(None)).order_by(CommandReply.chunk_index)).all()
    if not rows or rows[0].chunk_index != 0 or rows[0].sha256 is None:
        return None
    count = rows[0].chunk_count
    if [r.chunk_index for r in rows] != list(range(count)):
        return None
    data = b"".join(r.data or b"" for r in rows)
    return data if hashlib.sha256(data).digest() == rows[0].sha256 else None


def latest_screenshot(db: Session, device_id: str) -> bytes | None:
    """Newest complete PNG a device sent in answer to a screenshot command."""
    ids = db.scalars(select(CommandReply.command_id).distinct().where(
        CommandReply.device_id == device_id, CommandReply.chunk_index == 0)
        .order_by(CommandReply.command_id.desc())).all()
    for cid in ids:
        data = reply_data(db, device_id, cid)
        if data is not None and data.startswith(b"\x89PNG\r\n\x1a\n"):
            return data
    return None


def next_bundle_version(db: Session) -> int:
    """Provisioning bundles are versioned like every control message: by the
    current time, in microseconds: a provisioned gate takes only a newer
    bundle than it applied (firmware/setup/bundle.py), and a technician may
    re-run within the same second."""
    return time.time_ns() // 1000
