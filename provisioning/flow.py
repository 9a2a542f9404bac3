"""One provisioning run, start to finish (what `greengate provision run` does).

    hello -> the fleet's key (a provisioned device of another fleet stops
    here, before anything is sent) -> key pair on the device (kept unless
    rekey) -> firmware upload (only changed files, SHA-256 checked, atomic
    switch; a provisioned device needs a fleet-signed release) -> fleet
    challenge, signed by the device -> registration (MQTT credentials +
    fleet-signed bundle) -> bundle + Wi-Fi written -> reboot -> wait until
    the fleet sees the device online.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from provisioning import device, release as releases
from provisioning.errors import ProvisionError
from provisioning.fleet_client import FleetClient
from provisioning.link import Link


@dataclass
class Summary:
    device_id: str
    chip_id: str
    public_key: str
    key_created: bool
    site_id: int | None
    broker_url: str
    files_sent: list[str]
    files_total: int
    resent_frames: int
    online: bool
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def device_id_for(chip_id: str) -> str:
    return "gg-" + chip_id.lower()[-12:]


def provision(link: Link, fleet: FleetClient, firmware_root: Path, site_id: int | None,
              wifi: tuple[str, str] | None = None, rekey: bool = False,
              wait_online: float = 60.0, on_step: Callable[[str], None] | None = None,
              progress: Callable[[str, int, int], None] | None = None,
              release: bytes | None = None) -> Summary:
    """`release`: the fleet-signed firmware release (provisioning/release.py),
    needed only when a provisioned device's firmware must change."""
    t = {}
    step = on_step or (lambda s: None)

    t0 = time.monotonic()
    step("hello")
    info = device.hello(link)
    dev_id = info.device_id or device_id_for(info.chip_id)
    if info.protocol < device.PROTOCOL_LOCKED:
        _update_outdated(link, info, firmware_root, step)
    step("fleet")
    check_same_fleet(info, fleet.challenge(dev_id).fleet_key)
    if rekey and info.provisioned:
        raise ProvisionError(
            "a provisioned gate keeps its key pair (the fleet knows it): --rekey needs an erased "
            "gate (`greengate provision flash`) / cổng đã cài đặt giữ nguyên cặp khóa: muốn tạo "
            "khóa mới phải xóa sạch cổng trước", code="REKEY_LOCKED")
    step("key")
    pub, created = device.ensure_key(link, rekey=rekey)
    t["identify"] = time.monotonic() - t0

    t0 = time.monotonic()
    step("firmware")
    files, stale = releases.firmware_for(info.platform, firmware_root)
    signed = None
    if info.provisioned:
        signed = _release_for(link, files, stale, release)
    total = sum(len(f.data) for f in files)
    sent = [0]

    def tick(n: int) -> None:
        sent[0] += n
        if progress:
            progress("upload", sent[0], total)

    paths = device.deploy(link, files, remove=stale, progress=tick, release=signed)
    t["firmware"] = time.monotonic() - t0

    t0 = time.monotonic()
    step("register")
    ch = fleet.challenge(dev_id)  # a fresh one: the upload may have taken minutes
    signature = device.sign_challenge(link, ch.challenge, ch.fleet_key)
    reg = fleet.register(dev_id, pub, site_id, info.firmware, ch.challenge, signature)
    t["register"] = time.monotonic() - t0

    t0 = time.monotonic()
    step("config")
    device.write_config(link, reg.bundle, *(wifi or (None, None)))
    step("reboot")
    device.reboot(link)
    online = False
    if wait_online > 0:
        step("online")
        fleet.wait_online(reg.device_id, timeout=wait_online)
        online = True
    t["config_and_online"] = time.monotonic() - t0
    return Summary(device_id=reg.device_id, chip_id=info.chip_id, public_key=pub.hex(),
                   key_created=created, site_id=reg.site_id, broker_url=reg.broker_url,
                   files_sent=paths, files_total=len(files), resent_frames=link.resent,
                   online=online, seconds={k: round(v, 2) for k, v in t.items()})


def _update_outdated(link: Link, info: device.DeviceInfo, firmware_root: Path,
                     step: Callable[[str], None]) -> None:
    """A gate from before the locked console cannot sign the registration
    statement nor tell its fleet: install this firmware the old way (its
    console is still open), restart it, and have the technician run again;
    from then on the lock holds."""
    step("update")
    files, stale = releases.firmware_for(info.platform, firmware_root)
    device.deploy(link, files, remove=stale)
    device.reboot(link)
    raise ProvisionError(
        "the gate ran firmware from before the locked console: it has been updated and is "
        "restarting; run the same command again / cổng chạy phần mềm cũ: đã cập nhật và đang "
        "khởi động lại; hãy chạy lại lệnh", code="UPDATED_RUN_AGAIN")


def check_same_fleet(info: device.DeviceInfo, fleet_key: bytes) -> None:
    """A provisioned device belongs to the fleet whose keys it holds: refuse
    before anything is uploaded or registered (the device refuses too)."""
    if info.provisioned and fleet_key not in info.fleet_keys:
        raise ProvisionError(
            "this gate belongs to another fleet: only its own fleet can re-provision it, or "
            "erase it first (`greengate provision flash`: a factory reset that wipes its key and "
            "secrets) / cổng này thuộc hệ thống khác: chỉ hệ thống của nó mới cài đặt lại được, "
            "hoặc xóa sạch trước (`greengate provision flash`)", code="FOREIGN_FLEET")


def _release_for(link, files, stale, release: bytes | None) -> tuple[bytes, bytes] | None:
    """A provisioned device installs files only inside a signed release:
    (release, listing) if anything must change, None if nothing does."""
    changed, present = device.changed_files(link, files, stale)
    if not changed and not present:
        return None
    if release is None:
        raise ProvisionError(
            f"this gate is provisioned and {len(changed)} firmware file(s) differ: a fleet-signed "
            f"release is needed (--release, made with `greengate provision release`) / cổng đã "
            f"được cài đặt và {len(changed)} tệp phần mềm khác: cần bản phát hành có chữ ký "
            f"của hệ thống (--release)", code="RELEASE_NEEDED")
    return release, releases.check_matches(release, files, stale)
