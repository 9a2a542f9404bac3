"""One provisioning run, start to finish (what `greengate provision run` does).

    hello -> key pair on the device (kept unless rekey) -> firmware upload
    (only changed files, SHA-256 checked, atomic switch) -> fleet challenge,
    signed by the device -> registration (MQTT credentials + fleet-signed
    bundle) -> bundle + Wi-Fi written -> reboot -> wait until the fleet
    sees the device online.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from provisioning import build, device
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
              progress: Callable[[str, int, int], None] | None = None) -> Summary:
    t = {}
    step = on_step or (lambda s: None)

    t0 = time.monotonic()
    step("hello")
    info = device.hello(link)
    dev_id = info.device_id or device_id_for(info.chip_id)
    step("key")
    pub, created = device.ensure_key(link, rekey=rekey)
    t["identify"] = time.monotonic() - t0

    t0 = time.monotonic()
    step("firmware")
    files = (build.compile_firmware(firmware_root) if info.platform == "esp32"
             else build.source_firmware(firmware_root))
    total = sum(len(f.data) for f in files)
    sent = [0]

    def tick(n: int) -> None:
        sent[0] += n
        if progress:
            progress("upload", sent[0], total)

    stale = _stale_files(info.platform, files)
    paths = device.deploy(link, files, remove=stale, progress=tick)
    t["firmware"] = time.monotonic() - t0

    t0 = time.monotonic()
    step("register")
    challenge = fleet.challenge(dev_id)
    signature = device.sign_challenge(link, challenge)
    reg = fleet.register(dev_id, pub, site_id, info.firmware, challenge, signature)
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


def _stale_files(platform: str, files: list[device.FirmwareFile]) -> list[str]:
    # on the ESP32 a module ships as .mpy: a left-over .py of the same name
    # would shadow nothing but waste flash; remove those we know of
    if platform != "esp32":
        return []
    return [f.path[:-4] + ".py" for f in files if f.path.endswith(".mpy")]
