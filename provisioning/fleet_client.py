"""The fleet API calls the provisioning tool makes (httpx)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import httpx

from provisioning.errors import FleetError


@dataclass
class Challenge:
    challenge: bytes   # the fleet's fresh, device-bound challenge
    fleet_key: bytes   # the fleet's public key: the device signs for this fleet only


@dataclass
class Registration:
    device_id: str
    site_id: int | None
    broker_url: str
    bundle: bytes  # fleet-signed provisioning bundle for the device


class FleetClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw) -> dict:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.TransportError as e:
            raise FleetError(f"fleet unreachable at {self.base_url}: {e} / "
                             f"không kết nối được máy chủ {self.base_url}",
                             code="FLEET_UNREACHABLE") from e
        if r.status_code == 401:
            raise FleetError("the technician token was refused or has expired: ask the operator "
                             "for a new one / mã kỹ thuật viên bị từ chối hoặc đã hết hạn",
                             code="TOKEN_REFUSED")
        if r.status_code == 403:
            raise FleetError(f"not allowed: {_detail(r)} / không được phép", code="FORBIDDEN")
        if r.status_code == 404:
            raise FleetError(f"not found: {_detail(r)} / không tìm thấy", code="NOT_FOUND")
        if r.status_code >= 400:
            raise FleetError(f"fleet refused ({r.status_code}): {_detail(r)}", code="FLEET_REFUSED")
        return r.json()

    def challenge(self, device_id: str) -> Challenge:
        data = self._call("POST", "/api/v1/devices/challenge", json={"device_id": device_id})
        if "fleet_public_key" not in data:
            raise FleetError("the fleet is older than this tool (no fleet key with the challenge): "
                             "update the fleet first / máy chủ cũ hơn công cụ: hãy cập nhật máy chủ",
                             code="FLEET_OUTDATED")
        return Challenge(bytes.fromhex(data["challenge"]), bytes.fromhex(data["fleet_public_key"]))

    def register(self, device_id: str, public_key: bytes, site_id: int | None,
                 firmware: str | None, challenge: bytes, signature: bytes) -> Registration:
        body = {"device_id": device_id, "public_key": public_key.hex(), "site_id": site_id,
                "firmware": firmware, "challenge": challenge.hex(), "signature": signature.hex()}
        try:
            data = self._call("POST", "/api/v1/devices/register", json=body)
        except FleetError as e:
            if e.code == "NOT_FOUND" and site_id is not None:
                raise FleetError(f"site {site_id} is unknown to the fleet / "
                                 f"địa điểm {site_id} không có trong hệ thống",
                                 code="SITE_UNKNOWN") from e
            raise
        return Registration(device_id=data["device_id"], site_id=data.get("site_id"),
                            broker_url=data["broker_url"],
                            bundle=base64.b64decode(data["bundle"]))

    def wait_online(self, device_id: str, timeout: float = 60.0, poll: float = 0.5) -> dict:
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            last = self._call("GET", f"/api/v1/devices/{device_id}")
            if last.get("online"):
                return last
            time.sleep(poll)
        raise FleetError(f"{device_id} did not come online within {timeout:.0f} s: check Wi-Fi "
                         f"and broker settings / thiết bị chưa trực tuyến sau {timeout:.0f} giây",
                         code="NOT_ONLINE")


def _detail(r: httpx.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return r.text[:200]
    return str(data.get("detail") or data.get("message") or data)[:200]
