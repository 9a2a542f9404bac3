"""Request/response bodies (pydantic v2). Unknown fields are rejected so a
typo in a request is an error, not a silent no-op."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleet.models import BusinessStatus, OperatingMode, Sector, Zone

HexHash = Field(pattern=r"^[0-9a-fA-F]{32}$", description="pass hash: 16 bytes as hex")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    token: str
    csrf_token: str
    role: str
    business_id: str | None
    expires_at: dt.datetime


class UserIn(In):
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")
    password: str = Field(min_length=10, max_length=256)
    role: Literal["admin", "operator", "manager", "viewer"]
    business_id: str | None = None
    language: Literal["vi", "en"] = "vi"


class UserPatch(In):
    """Admin's change to an account; omitted fields stay as they are. With a
    new role and no business_id, a manager keeps its business and any other
    role drops it; `"business_id": null` drops it explicitly."""

    active: bool | None = None
    password: str | None = Field(None, min_length=10, max_length=256,
                                 description="reset: ends the account's sessions")
    role: Literal["admin", "operator", "manager", "viewer"] | None = None
    business_id: str | None = Field(None, max_length=16)
    language: Literal["vi", "en"] | None = None


class PasswordChangeIn(In):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class PasswordChangeOut(BaseModel):
    sessions_ended: int


class UserOut(Out):
    id: int
    username: str
    role: str
    business_id: str | None
    language: str
    active: bool
    created_at: dt.datetime


class BusinessIn(In):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    name: str = Field(min_length=1, max_length=200)
    sector: Sector
    address: str = Field(min_length=1, max_length=300)
    ward: str = Field(min_length=1, max_length=100)
    zone: Zone = Zone.GREEN
    operating_mode: OperatingMode
    two_doses: bool = False
    five_k: bool = False
    plan_approved: bool = False
    testing_interval_days: int | None = Field(None, ge=1, le=60)


class BusinessPatch(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    sector: Sector | None = None
    address: str | None = Field(None, min_length=1, max_length=300)
    ward: str | None = Field(None, min_length=1, max_length=100)
    zone: Zone | None = None
    operating_mode: OperatingMode | None = None
    two_doses: bool | None = None
    five_k: bool | None = None
    plan_approved: bool | None = None
    testing_interval_days: int | None = Field(None, ge=1, le=60)


class BusinessOut(Out):
    id: str
    name: str
    sector: str
    address: str
    ward: str
    zone: str
    status: BusinessStatus
    operating_mode: str
    two_doses: bool
    five_k: bool
    plan_approved: bool
    testing_interval_days: int | None
    suspended_reason: str | None


class ReasonIn(In):
    reason: str = Field(min_length=1, max_length=200)


Rule = tuple[int, dict]
RULES_DOC = ("site rules, docs/protocol.md section 8: [[type 1..12, {param: value}], ...], "
             "param keys as digit strings, e.g. [[1, {\"1\": [1, 2]}], [10, {\"1\": 600}]]")

FORMATS_DOC = "pass formats the gates accept: 1 GG1, 2 EU DCC; null = GG1 only"


# WGS 84 degrees (finite, in range); a site has both or neither.
Lat = Field(None, ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees north")
Lon = Field(None, ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees east")


class _Located(In):
    @model_validator(mode="after")
    def _pair(self):  # noqa: ANN202
        if ("lat" in self.model_fields_set) != ("lon" in self.model_fields_set) \
                or (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together (both or neither)")
        return self


class SiteIn(_Located):
    business_id: str
    name: str = Field(min_length=1, max_length=200, description="Vietnamese name")
    name_en: str | None = Field(None, min_length=1, max_length=200)
    address: str = Field("", max_length=300)
    capacity: int | None = Field(None, ge=1, le=100000)
    rules: list[Rule] = Field(default_factory=list, max_length=64, description=RULES_DOC)
    formats: list[Literal[1, 2]] | None = Field(None, min_length=1, max_length=2, description=FORMATS_DOC)
    lat: float | None = Lat
    lon: float | None = Lon


class SitePatch(_Located):
    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    address: str | None = Field(None, max_length=300)
    capacity: int | None = Field(None, ge=1, le=100000)
    rules: list[Rule] | None = Field(None, max_length=64, description=RULES_DOC)
    formats: list[Literal[1, 2]] | None = Field(None, min_length=1, max_length=2, description=FORMATS_DOC)
    lat: float | None = Lat
    lon: float | None = Lon


class SiteOut(Out):
    id: int
    business_id: str
    name: str
    name_en: str | None
    address: str
    capacity: int | None
    rules: list
    formats: list | None = None
    config_version: int
    lat: float | None = None
    lon: float | None = None


class TechnicianTokenIn(In):
    site_id: int | None = None


class TechnicianTokenOut(BaseModel):
    token: str
    expires_at: dt.datetime
    site_id: int | None


DeviceId = Field(pattern=r"^gg-[0-9a-f]{12}$", description='"gg-" + 12 lowercase hex digits (ESP32 MAC)')


class ChallengeIn(In):
    device_id: str = DeviceId


class ChallengeOut(BaseModel):
    challenge: str = Field(description="hex; the device signs the registration statement "
                                       "(docs/provisioning.md, SIGN) that carries these bytes")
    expires_in_s: int
    fleet_public_key: str = Field(description="hex; the fleet key the statement names (and that "
                                              "signs the device's bundle)")


class DeviceRegisterIn(In):
    device_id: str = DeviceId
    public_key: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="raw Ed25519 key, hex")
    site_id: int | None = None
    firmware: str | None = Field(None, max_length=64)
    challenge: str = Field(pattern=r"^[0-9a-fA-F]{80}$")
    signature: str = Field(pattern=r"^[0-9a-fA-F]{128}$")


class DeviceRegisterOut(BaseModel):
    device_id: str
    site_id: int | None
    broker_url: str
    mqtt_username: str
    bundle: str = Field(description="base64 of the fleet-signed provisioning bundle (kind 5), "
                                    "which carries the MQTT password: hand it to the device only")
    fleet_public_key: str


class DevicePatch(In):
    site_id: int | None = None
    status: Literal["active", "retired"] | None = None


class DeviceOut(Out):
    id: str
    site_id: int | None
    public_key: str
    mqtt_username: str
    firmware: str | None
    status: str
    online: bool
    last_seen: dt.datetime | None
    config_version: int | None
    revocation_version: int | None
    trust_version: int | None
    dcc_version: int | None = None  # state key 16: applied kind-7 message
    dcc_keys: int | None = None
    outbox_depth: int | None
    clock_drift_s: float | None
    tamper: bool


class CommandIn(In):
    """Arguments per command (docs/protocol.md 5.2): open_gate {"seconds": 1..30};
    show_message {"vi", "en" (<= 120 characters each), "seconds": 1..300};
    screenshot {"chunk_size": 256..768}; sync and reboot take none."""

    command: Literal["sync", "open_gate", "show_message", "reboot", "screenshot"]
    args: dict = Field(default_factory=dict)


class CommandOut(BaseModel):
    id: int
    topic: str


class IssuerIn(In):
    iss: str = Field(min_length=1, max_length=32)
    public_key: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    note: str = Field("", max_length=500)


class IssuerOut(Out):
    id: int
    iss: str
    kid: str
    public_key: str
    active: bool


class AllowlistIn(In):
    pass_hash: str = HexHash


class AllowlistOut(Out):
    id: int
    business_id: str
    pass_hash: str
    status: str
    drafted_by: str
    approved_by: str | None
    decided_at: dt.datetime | None


class PassIn(In):
    role: int = Field(ge=0, le=4, description="0 resident, 1 worker, 2 shipper, 3 official, 4 shopper")
    initials: str = Field(min_length=1, max_length=6)
    birth_year: int = Field(ge=1900, le=2100)
    valid_days: int = Field(30, ge=1, le=366)
    business_id: str | None = None
    doses: int | None = Field(None, ge=0, le=9)
    last_dose: dt.date | None = None
    zone: int | None = Field(None, ge=0, le=3)


class PassOut(Out):
    pass_hash: str
    cti: str
    iss: str
    role: int
    initials: str
    birth_year: int
    business_id: str | None
    status: str
    issued_at: dt.datetime
    expires_at: dt.datetime


class IssuedPass(PassOut):
    qr_text: str = Field(description="GG1 QR text; returned once, not stored")


class CardIn(In):
    qr_text: str = Field(min_length=5, max_length=2000)


class RevocationIn(In):
    pass_hash: str = HexHash
    reason: Literal["F0", "LOST", "FRAUD", "STATUS_CHANGED", "OTHER"]


class DccRevocationIn(In):
    """An EU DCC by its certificate identifier (`ci`) and issuing country."""
    uci: str = Field(min_length=1, max_length=80)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    reason: Literal["F0", "LOST", "FRAUD", "STATUS_CHANGED", "OTHER"]


class RevocationOut(Out):
    pass_hash: str
    reason: str
    created_by: str
    created_at: dt.datetime
    version: int  # list version of the last change (revoked, or lifted)
    active: bool  # False: lifted, gates admit the pass again
    lift_reason: str | None = None
    lifted_by: str | None = None
    lifted_at: dt.datetime | None = None
    lift_note: str | None = None


class LiftIn(In):
    reason: Literal["ERROR", "RECOVERED", "FOUND", "OTHER"]
    note: str = Field("", max_length=300)  # why, in the operator's words (audited)


class F0In(In):
    pass_hash: str = HexHash
    days: int | None = Field(None, ge=1, le=60)
    hours: float | None = Field(None, gt=0, le=48)


class F0Out(Out):
    id: int
    pass_hash: str
    status: str
    opened_by: str
    opened_at: dt.datetime
    window_days: int
    window_hours: float
    exposure: list
    suspended_businesses: list


class AlertOut(Out):
    id: int
    kind: str
    device_id: str | None
    business_id: str | None
    detail: dict
    created_at: dt.datetime
    # grouped alerts: occurrences folded into this one, and the latest
    count: int = 1
    last_seen_at: dt.datetime | None = None
    severity: str = "warning"  # critical / warning / info (alerts.SEVERITY)
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    ack_note: str | None = None


class NoteIn(BaseModel):
    note: str = Field("", max_length=300)


class AckIn(NoteIn):
    """Acknowledge alerts: `ids` (1..500) with an optional note."""

    ids: list[int] = Field(min_length=1, max_length=500)


class ScanOut(Out):
    id: int
    device_id: str
    seq: int
    site_id: int | None
    time: int
    time_valid: bool
    pass_hash: str | None
    verdict: bool
    reason: int
    reason_name: str = ""
    received_at: int


class AuditOut(Out):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    detail: dict
