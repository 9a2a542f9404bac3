"""Automatic rollback on the real firmware: a release whose main.py raises
at boot, and one that boots but never becomes healthy (its built-in test
pass check fails), are each tried slotboot.TRIES times and then the gate
goes back to the firmware it ran, by itself, and reports
[release, 6 rolled back, _, OTA_PROBATION_FAILED, campaign]; the same
release offered again is refused; a good one installs afterwards."""

from __future__ import annotations

from e2e_kit import boot, kind, reason_code
from ota_kit import OtaFleet, compile_source, make_release, ota_state, provisioned_gate, slot_of, with_file

DEVICE = "gg-0000000e2e0c"
FAILED = reason_code("OTA_PROBATION_FAILED")


def test_broken_releases_roll_back_by_themselves(tmp_path, mosquitto_broker):
    root, flash, site, key = provisioned_gate(tmp_path, DEVICE, ota_probation_s=8)
    raising = with_file("main.mpy", compile_source(
        "main.py", "raise RuntimeError('release 1 is broken')\n", tmp_path))
    unhealthy = with_file("ota/selftest.mpy", compile_source(
        "ota/selftest.py", "def run():\n    return False\n", tmp_path))

    sim = boot(root, DEVICE, mosquitto_broker.port)
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)

        fleet.offer(make_release(key, 1, files=raising), campaign=11)
        s = fleet.wait_result(1, 11, timeout=300)
        assert s[1] == 6 and s[3] == FAILED, fleet.states
        assert sim.reboots == 3  # switch, second try, back to the old slot
        assert slot_of(flash) == {"slot": "", "prev": "a", "tries": 0, "trial": 0, "rolled_back": "a"}

        fleet.offer(make_release(key, 1, files=raising, version="0.1.0-again"), campaign=12)
        s = fleet.wait_state(lambda s: s[4] == 12 and s[1] == 7, timeout=120)
        assert s[3] == FAILED

        fleet.offer(make_release(key, 2, files=unhealthy), campaign=13)
        s = fleet.wait_result(2, 13, timeout=300)
        assert s[1] == 6 and s[3] == FAILED, fleet.states
        assert 4 in [x[1] for x in fleet.states if x[4] == 13]  # it did boot, on probation
        assert sim.reboots == 6

        fleet.offer(make_release(key, 3), campaign=14)
        assert fleet.wait_result(3, 14, timeout=300) == [3, 5, 100, 0, 14], fleet.states
    finally:
        fleet.close()
        sim.stop()
    assert slot_of(flash)["slot"] == "a" and not slot_of(flash)["trial"]
    assert ota_state(flash)["installed"] == 3
