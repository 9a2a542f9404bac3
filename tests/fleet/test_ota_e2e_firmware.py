"""Both halves of issue 14 together: the real firmware (firmware/main.py
under the MicroPython unix port) updated by the fleet's own machinery, no
stand-in: the release published with `fleet.services.releases`, a campaign
made and started with `fleet.services.ota`, the engine ticking like
`serve`'s loop, the real broker bridge signing the kind-8 offer with the
fleet key, serving the manifest and payload blobs in chunks and ingesting
the gate's state key 15, over a real mosquitto. The campaign ends done, the
gate runs the new release's code and reports its version."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

FIRMWARE_TESTS = Path(__file__).resolve().parents[1] / "firmware"
for p in (FIRMWARE_TESTS / "runtime", FIRMWARE_TESTS / "net", FIRMWARE_TESTS / "e2e", FIRMWARE_TESTS / "ota"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from e2e_kit import boot, kind, provision_site  # noqa: E402
from fleet_helpers import wait_until  # noqa: E402
from ota_kit import compile_source, configure, make_release, slot_of, with_file  # noqa: E402

from fleet.broker_bridge.bridge import Bridge, BrokerParams  # noqa: E402
from fleet.models import CampaignDevice, Device  # noqa: E402
from fleet.services import ota, releases  # noqa: E402
from greengate.control.envelope import raw_public  # noqa: E402
from greengate.ota import release as rel  # noqa: E402

DEVICE = "gg-0000000e2e0f"


def app_with_version(version: str, tmp) -> bytes:  # noqa: ANN001
    from greengate.paths import FIRMWARE

    src = (FIRMWARE / "app" / "__init__.py").read_text()
    line = src[src.index('VERSION = "'):].split("\n", 1)[0]
    return compile_source("app/__init__.py", src.replace(line, f'VERSION = "{version}"'), tmp)


def test_campaign_updates_the_real_firmware(tmp_path, mosquitto_broker, session_factory):
    root = tmp_path / "sim"
    flash = root / "flash"
    site = provision_site(flash, tmp_path, DEVICE, device_config={"gate": {"relay_ms": 200}})
    release_key = Ed25519PrivateKey.generate()
    configure(flash, [rel.raw_public(release_key)], ota_probation_s=120)
    release = make_release(release_key, 1, files=with_file("app/__init__.mpy",
                                                           app_with_version("9.9.2", tmp_path)),
                           version="9.9.2")
    with session_factory() as db:
        db.add(Device(id=DEVICE, public_key="00" * 32, mqtt_username=DEVICE, mqtt_password_hash="x",
                      status="active", online=False, tamper=False))
        releases.publish(db, release, [rel.raw_public(release_key)], raw_public(site.fleet_key), "test")
        cid = ota.create(db, 1, {"kind": "devices", "value": [DEVICE]}, [100], "test").id
        db.commit()

    bridge = Bridge(session_factory, BrokerParams(port=mosquitto_broker.port), site.fleet_key,
                    shared=False, poll_s=0.05).start()
    stop = threading.Event()

    def engine() -> None:  # `serve`'s campaign loop
        while not stop.wait(0.2):
            ota.tick(session_factory)

    sim = boot(root, DEVICE, mosquitto_broker.port)
    loop = threading.Thread(target=engine, daemon=True)

    def row() -> CampaignDevice:
        with session_factory() as db:
            return db.scalar(select(CampaignDevice).where(CampaignDevice.campaign_id == cid))

    def campaign_state() -> str:
        with session_factory() as db:
            return ota.get(db, cid).state

    def device() -> Device:
        with session_factory() as db:
            return db.get(Device, DEVICE)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        wait_until(lambda: device().online, timeout=60)
        with session_factory() as db:
            ota.start(db, cid, "test")
            db.commit()
        loop.start()
        wait_until(lambda: row().status in ("downloading", "verifying", "switching", "probation", "done"),
                   timeout=120, step=0.2)
        wait_until(lambda: row().status in ota.FINAL, timeout=300, step=0.5)
        assert (row().status, row().percent, row().reason) == ("done", 100, 0)
        wait_until(lambda: device().firmware == "9.9.2", timeout=60, step=0.5)
        wait_until(lambda: campaign_state() == "done", timeout=30, step=0.2)
        assert sim.reboots >= 1
    finally:
        stop.set()
        sim.stop()
        bridge.stop()
    assert slot_of(flash)["slot"] in ("a", "b") and slot_of(flash)["trial"] == 0
