"""Devices: provisioning (challenge, registration -> signed bundle with MQTT
credentials), technician tokens, listing, commands, screenshots."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Operator, SessionDep, SettingsDep, business_scope, check_business
from fleet.api.schemas import (ChallengeIn, ChallengeOut, CommandIn, CommandOut, DeviceOut,
                               DevicePatch, DeviceRegisterIn, DeviceRegisterOut,
                               TechnicianTokenIn, TechnicianTokenOut)
from fleet.core import errors
from fleet.models import Device, Site, User, UserSession
from fleet.services import audit, control, devices as device_svc, provision, registry, users

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


def _provisioner(request: Request, db) -> tuple[User, UserSession | None]:  # noqa: ANN001
    """A technician token (site-bound or not) or an operator/admin session."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise errors.NotAuthenticated("technician or operator token required / cần mã kỹ thuật viên")
    token = auth[7:].strip()
    try:
        return users.resolve(db, token, kind="technician")
    except errors.NotAuthenticated:
        user, _ = users.resolve(db, token)
        if user.role not in ("admin", "operator"):
            raise errors.Forbidden("operators register devices", code="ROLE") from None
        return user, None


@router.post("/devices/challenge", response_model=ChallengeOut,
             summary="A fresh challenge the device signs to prove it holds its key")
def challenge(body: ChallengeIn, request: Request, db: SessionDep, settings: SettingsDep) -> ChallengeOut:
    _provisioner(request, db)
    c = provision.make_challenge(settings.secret_key, body.device_id)
    return ChallengeOut(challenge=c.hex(), expires_in_s=provision.CHALLENGE_TTL_S,
                        fleet_public_key=request.app.state.fleet_public_key.hex())


@router.post("/devices/register", response_model=DeviceRegisterOut, status_code=201,
             summary="Register a device's public key; answers the signed provisioning bundle")
def register(body: DeviceRegisterIn, request: Request, db: SessionDep,
             settings: SettingsDep) -> DeviceRegisterOut:
    user, tech = _provisioner(request, db)
    site_id = body.site_id
    if tech is not None:
        if tech.site_id is not None and site_id not in (None, tech.site_id):
            raise errors.Forbidden("token is for another site / mã dành cho địa điểm khác",
                                   code="SITE_SCOPE")
        site_id = site_id if site_id is not None else tech.site_id
    actor = f"technician:{user.username}" if tech is not None else user.username
    challenge_bytes = bytes.fromhex(body.challenge)
    provision.check_challenge(settings.secret_key, body.device_id, challenge_bytes)
    provision.check_possession(bytes.fromhex(body.public_key), challenge_bytes,
                               bytes.fromhex(body.signature), body.device_id,
                               request.app.state.fleet_public_key)
    device, password = registry.register_device(db, body.device_id, body.public_key.lower(),
                                                site_id, body.firmware, actor)
    state = request.app.state
    bundle = provision.make_bundle(
        state.fleet_key, [state.fleet_public_key], device.id, device.site_id,
        state.device_broker_url, device.mqtt_username, password, state.broker_ca_pem,
        version=device_svc.next_bundle_version(db),
        release_public_keys=release_keys(settings, state.fleet_public_key))
    return DeviceRegisterOut(device_id=device.id, site_id=device.site_id,
                             broker_url=state.device_broker_url,
                             mqtt_username=device.mqtt_username,
                             bundle=base64.b64encode(bundle).decode(),
                             fleet_public_key=state.fleet_public_key.hex())


def release_keys(settings, fleet_public_key: bytes) -> list[bytes]:  # noqa: ANN001
    """The configured release public keys for the bundle (never the fleet key)."""
    from fleet.services import releases

    keys = releases.parse_public_keys(settings.release_public_keys)
    if keys:
        releases.check_key_roles(keys, fleet_public_key)
    return keys


def _device_for(user: User, db, device_id: str) -> Device:  # noqa: ANN001
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


@router.get("/devices/{device_id}", response_model=DeviceOut,
            summary="One device (also readable with a technician token, to wait for it online)")
def get_device(device_id: str, request: Request, db: SessionDep) -> Device:
    user, tech = _any_reader(request, db)
    if tech is not None:
        device = registry.get_device(db, device_id)
        if tech.site_id is not None and device.site_id != tech.site_id:
            raise errors.Forbidden("token is for another site", code="SITE_SCOPE")
        return device
    return _device_for(user, db, device_id)


def _any_reader(request: Request, db) -> tuple[User, UserSession | None]:  # noqa: ANN001
    from fleet.api.deps import get_current_user

    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        try:
            return users.resolve(db, auth[7:].strip(), kind="technician")
        except errors.NotAuthenticated:
            pass
    return get_current_user(request, db, request.app.state.settings), None


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def update_device(device_id: str, body: DevicePatch, user: Operator, db: SessionDep) -> Device:
    device = registry.get_device(db, device_id)
    return registry.update_device(db, device, body.model_dump(exclude_unset=True), user.username)


def check_command_args(command: str, args: dict) -> dict:
    def _int(name: str, lo: int, hi: int, default: int | None = None) -> int:
        v = args.get(name, default)
        if type(v) is not int or not lo <= v <= hi:
            raise errors.BadRequest(f"{command}: args.{name} must be an integer {lo}..{hi}",
                                    code="BAD_COMMAND")
        return v

    allowed = {"sync": set(), "reboot": set(), "open_gate": {"seconds"},
               "show_message": {"vi", "en", "seconds"}, "screenshot": {"chunk_size"}}[command]
    extra = set(args) - allowed
    if extra:
        raise errors.BadRequest(f"{command}: unknown args {sorted(extra)}", code="BAD_COMMAND")
    if command == "open_gate":
        return {"seconds": _int("seconds", 1, 30)}
    if command == "show_message":
        import unicodedata

        out = {}
        for lang in ("vi", "en"):
            text = args.get(lang)
            if not isinstance(text, str) or not 0 < len(text) <= 120:
                raise errors.BadRequest("show_message needs args.vi and args.en (1..120 characters)",
                                        code="BAD_COMMAND")
            out[lang] = unicodedata.normalize("NFC", text)  # the device font has precomposed glyphs
        out["seconds"] = _int("seconds", 1, 300, 10)
        return out
    if command == "screenshot":
        return {"chunk_size": _int("chunk_size", 256, 768, 768)}
    return {}


@router.post("/devices/{device_id}/commands", response_model=CommandOut, status_code=202,
             summary="Queue a signed command: sync, open_gate, show_message, reboot, screenshot")
def command(device_id: str, body: CommandIn, user: Operator, db: SessionDep) -> CommandOut:
    registry.get_device(db, device_id)
    args = check_command_args(body.command, body.args)
    row = control.enqueue_command(db, device_id, body.command, args)
    audit.record(db, user.username, f"device.command.{body.command}", "device", device_id,
                 command_id=row.id)
    return CommandOut(id=row.id, topic=row.topic)


@router.get("/devices/{device_id}/screenshot", summary="Latest screenshot (PNG) the device sent",
            responses={200: {"content": {"image/png": {}}}})
def screenshot(device_id: str, user: CurrentUser, db: SessionDep) -> Response:
    _device_for(user, db, device_id)
    png = device_svc.latest_screenshot(db, device_id)
    if png is None:
        raise errors.NotFound("no screenshot yet / chưa có ảnh màn hình")
    return Response(png, media_type="image/png")
