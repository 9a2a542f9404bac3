from __future__ import annotations


from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Operator, SessionDep, SettingsDep, business_scope, check_business
from fleet.api.schemas import (CommandIn, CommandOut, DeviceOut, DevicePatch, DeviceRegisterIn,
                               DeviceRegisterOut, TechnicianTokenIn, TechnicianTokenOut)
from fleet.core import errors
from fleet.models import CommandReply, Device, Site
from fleet.services import audit, control, registry, users

router = APIRouter(tags=["devices"])


@router.post("/technician-tokens", response_model=TechnicianTokenOut, status_code=201,
             summary="Short-lived token a technician's tool uses to register devices")
def technician_token(body: TechnicianTokenIn, user: Operator, db: SessionDep,
                     settings: SettingsDep) -> TechnicianTokenOut:
    if body.site_id is not None:
        registry.get_site(db, body.site_id)
    token, row = users.open_session(db, user, settings.technician_token_ttl_s, kind="technician",
                                    site_id=body.site_id)
    audit.record(db, user.username, "technician_token.create", "site", body.site_id,
                 expires_at=row.expires_at.isoformat())
    return TechnicianTokenOut(token=token, expires_at=row.expires_at, site_id=body.site_id)


@router.post("/devices/register", response_model=DeviceRegisterOut, status_code=201,
             summary="Register a device's public key; returns its MQTT credentials once")
def register(body: DeviceRegisterIn, request: Request, db: SessionDep,
             settings: SettingsDep) -> DeviceRegisterOut:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise errors.NotAuthenticated("technician or operator token required")
    token = auth[7:].strip()
    try:
        user, row = users.resolve(db, token, kind="technician")
        actor = f"technician:{user.username}"
        if row.site_id is not None and body.site_id not in (None, row.site_id):
            raise errors.Forbidden("token is for another site / mã dành cho địa điểm khác",
                                   code="SITE_SCOPE")
        site_id = body.site_id if body.site_id is not None else row.site_id
    except errors.NotAuthenticated:
        user, _ = users.resolve(db, token)
        if user.role not in ("admin", "operator"):
            raise errors.Forbidden("operators register devices", code="ROLE") from None
        actor, site_id = user.username, body.site_id
    device, password = registry.register_device(db, body.device_id, body.public_key, site_id,
                                                body.firmware, actor)
    signer = getattr(request.app.state, "fleet_public_key", None)
    return DeviceRegisterOut(device_id=device.id, site_id=device.site_id,
                             mqtt_username=device.mqtt_username, mqtt_password=password,
                             broker_url=request.app.state.public_broker_url,
                             fleet_public_key=signer)


def _device_for(user, db, device_id: str) -> Device:  # noqa: ANN001
    device = registry.get_device(db, device_id)
    if user.role == "manager":
        site = db.get(Site, device.site_id) if device.site_id is not None else None
        check_business(user, site.business_id if site else None)
    return device


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(user: CurrentUser, db: SessionDep, site_id: int | None = None,
                 online: bool | None = None) -> list:
    q = select(Device).order_by(Device.id)
    if (scope := business_scope(user)) is not None:
        q = q.where(Device.site_id.in_(select(Site.id).where(Site.business_id == scope)))
    if site_id is not None:
        q = q.where(Device.site_id == site_id)
    if online is not None:
        q = q.where(Device.online.is_(online))
    return list(db.scalars(q))


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, user: CurrentUser, db: SessionDep) -> Device:
    return _device_for(user, db, device_id)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def update_device(device_id: str, body: DevicePatch, user: Operator, db: SessionDep) -> Device:
    device = registry.get_device(db, device_id)
    changes = body.model_dump(exclude_unset=True)
    if "site_id" in changes and changes["site_id"] is not None:
        registry.get_site(db, changes["site_id"])
    for k, v in changes.items():
        setattr(device, k, v)
    audit.record(db, user.username, "device.update", "device", device.id, **changes)
    return device


@router.post("/devices/{device_id}/commands", response_model=CommandOut, status_code=202,
             summary="Queue a signed command: sync, open_gate, show_message, reboot, screenshot")
def command(device_id: str, body: CommandIn, user: Operator, db: SessionDep) -> CommandOut:
    registry.get_device(db, device_id)
    if body.command == "show_message":
        vi, en = body.args.get("vi"), body.args.get("en")
        if not (isinstance(vi, str) and isinstance(en, str) and 0 < len(vi) <= 64 and 0 < len(en) <= 64):
            raise errors.BadRequest("show_message needs args.vi and args.en (1..64 characters)",
                                    code="BAD_COMMAND")
    elif body.args:
        raise errors.BadRequest(f"{body.command} takes no arguments", code="BAD_COMMAND")
    row = control.enqueue_command(db, device_id, body.command, body.args)
    audit.record(db, user.username, f"device.command.{body.command}", "device", device_id,
                 command_id=row.id)
    return CommandOut(id=row.id, topic=row.topic)


@router.get("/devices/{device_id}/screenshot", summary="Latest screenshot (PNG) the device sent",
            responses={200: {"content": {"image/png": {}}}})
def screenshot(device_id: str, user: CurrentUser, db: SessionDep) -> Response:
    _device_for(user, db, device_id)
    png = db.scalar(select(CommandReply.png).where(CommandReply.device_id == device_id,
                                                   CommandReply.png.is_not(None))
                    .order_by(CommandReply.id.desc()).limit(1))
    if png is None:
        raise errors.NotFound("no screenshot yet / chưa có ảnh màn hình")
    return Response(png, media_type="image/png")


