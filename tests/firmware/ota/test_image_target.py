"""The firmware-image target (frozen builds: esp32.Partition OTA) on the real
firmware, with the unix port's simulated partitions and bootloader
(firmware/ota/image.py, firmware/otasim.py): the image is streamed into
the next partition through mosquitto, read back and hashed, set_boot, and
kept once the probation passes (mark_app_valid_cancel_rollback); a power cut
during the next image's probation makes the bootloader return to the
previous partition, reported as rolled back. A file bundle is refused on an
image gate."""

from __future__ import annotations

import json
import os
import time

from e2e_kit import boot, kind, power_cut, reason_code
from greengate.ota import release as rel
from ota_kit import OtaFleet, make_release, ota_state, provisioned_gate

DEVICE = "gg-0000000e2e0e"


def otadata(flash):
    return json.loads((flash / "ota" / "otadata.json").read_text())


def test_image_update_and_bootloader_rollback(tmp_path, mosquitto_broker):
    root, flash, site, key = provisioned_gate(tmp_path, DEVICE, ota_probation_s=60, ota_target=1)
    images = []
    for n in (1, 2):
        p = tmp_path / f"fw{n}.bin"
        p.write_bytes(os.urandom(150_000 + n))  # not a multiple of the 4 KiB block
        images.append(rel.build_release(p, n, f"1.{n}.0", 0, rel.TARGET_IMAGE, key))

    sim = boot(root, DEVICE, mosquitto_broker.port)
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        fleet.offer(make_release(key, 1), campaign=20)  # a file bundle: not for this gate
        s = fleet.wait_state(lambda s: s[4] == 20 and s[1] == 7, timeout=120)
        assert s[3] == reason_code("OTA_TARGET")

        fleet.offer(images[0], campaign=21)
        assert fleet.wait_result(1, 21, timeout=300) == [1, 5, 100, 0, 21], fleet.states
        assert otadata(flash) == {"boot": 1, "state": "valid", "prev": 0}
        written = (flash / "ota" / "ota_1.bin").read_bytes()
        assert written[:len(images[0].payload)] == images[0].payload
        assert set(written[len(images[0].payload):]) == {0xFF}  # the last block, padded

        fleet.offer(images[1], campaign=22)
        # the new image boots "pending verify" until healthy (scanner set up,
        # broker connected, test pass): cut the power in that window
        deadline = time.monotonic() + 300
        while otadata(flash).get("state") != "pending":
            assert time.monotonic() < deadline, fleet.states
            time.sleep(0.005)
        n_ev = len(sim.events())
        power_cut(sim)
        sim.wait_for(kind("scanner", state="ready"), after=n_ev, timeout=90)
        s = fleet.wait_result(2, 22, timeout=120)
        assert s[1] == 6 and s[3] == reason_code("OTA_PROBATION_FAILED"), fleet.states
        assert otadata(flash) == {"boot": 1, "state": "valid", "rolled_back": 0}
        assert ota_state(flash)["installed"] == 1
    finally:
        fleet.close()
        sim.stop()
