"""Device-reported state (bridge side): heartbeat / Last Will, applied
versions, outbox depth, clock drift, tamper; and command replies."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.models import CommandReply, Device, utcnow

_INT_FIELDS = ("config_version", "revocation_version", "trust_version", "outbox_depth")


def apply_state(db: Session, device_id: str, state: object, now: float | None = None) -> Device:
    """`state` (decoded): {"online": bool, "firmware"?: str, "config_version"?,
    "revocation_version"?, "trust_version"?, "outbox_depth"?: int, "clock"?: unix
    seconds of the device clock, "tamper"?: bool}. The Last Will is {"online": false}."""
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
    if type(state.get("tamper")) is bool:
        device.tamper = state["tamper"]
    return device


def store_reply(db: Session, device_id: str, reply: object) -> CommandReply:
    """`reply` (decoded): {"id": command id, "ok": bool, "detail"?: map, "png"?: bytes}."""
    if not isinstance(reply, dict) or type(reply.get("id")) is not int \
            or type(reply.get("ok")) is not bool:
        raise errors.BadRequest("command reply needs an integer id and a boolean ok",
                                code="BAD_REPLY")
    png = reply.get("png")
    if png is not None and not (isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")):
        raise errors.BadRequest("screenshot must be PNG bytes", code="BAD_REPLY")
    detail = reply.get("detail") if isinstance(reply.get("detail"), dict) else {}
    row = CommandReply(device_id=device_id, command_id=reply["id"], ok=reply["ok"],
                       detail={str(k): v for k, v in detail.items()
                               if isinstance(v, (str, int, float, bool))},
                       png=png)
    db.add(row)
    return row
