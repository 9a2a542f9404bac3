"""The offer's hand-over from the control plane to the updater, on the real
firmware through mosquitto (docs/memory.md "Firmware updates"): the control
service verifies the kind-8 offer, stores it on flash (ota/offer.py) and
unloads; only then is the offer taken by the updater, so the two are never
loaded together. A stored offer survives a power cut and is taken at the
next boot; one that comes while an update is on probation waits on flash
and is taken once that update is settled."""

from __future__ import annotations

import cbor2

from e2e_kit import boot, kind, power_cut, reason_code
from greengate.ota import offer as host_offer
from ota_kit import OtaFleet, compile_source, make_release, ota_state, provisioned_gate, with_file

DEVICE = "gg-0000000e2e0f"


def taken(e) -> bool:
    return e.get("kind") == "ota" and e.get("offer") == "taken"


def test_offer_is_taken_after_the_control_plane_unloaded(tmp_path, mosquitto_broker):
    root, flash, site, key = provisioned_gate(tmp_path, DEVICE, ota_probation_s=120)
    stored = flash / "ota" / "offer.cbor"
    sim = boot(root, DEVICE, mosquitto_broker.port)
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key)
    release = make_release(key, 1)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        n = len(sim.events())
        fleet.offer(release, campaign=31)
        sim.wait_for(taken, after=n, timeout=120)
        evs = sim.events()[n:]
        at = next(i for i, e in enumerate(evs) if taken(e))
        control = [e["loaded"] for e in evs[:at] if e.get("kind") == "control_service"]
        # the service was loaded for the offer and had unloaded (its modules
        # dropped from sys.modules, control/link.py) before the updater took it
        assert control[:1] == [True] and control[-1] is False, evs[:at + 1]
        assert fleet.wait_result(1, 31, timeout=300) == [1, 5, 100, 0, 31], fleet.states
    finally:
        fleet.close()
        sim.stop()
    assert not stored.exists()
    st = ota_state(flash)
    assert st["installed"] == 1 and st["phase"] == 5

    # A power cut after the updater recorded the offer in state.json but
    # before it removed the file: the next boot only removes it.
    stored.write_bytes(cbor2.dumps([st["offer"], host_offer.offer_body(release, 31)]))
    sim = boot(root, DEVICE, mosquitto_broker.port)
    try:
        sim.start()
        sim.wait_for(kind("ota", offer="known"), timeout=60)
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
    finally:
        sim.stop()
    assert not stored.exists()
    assert not any(taken(e) for e in sim.events())
    assert ota_state(flash) == st


def test_offer_during_probation_waits_on_flash_through_a_power_cut(tmp_path, mosquitto_broker):
    root, flash, site, key = provisioned_gate(tmp_path, DEVICE, ota_probation_s=8)
    stored = flash / "ota" / "offer.cbor"
    unhealthy = with_file("ota/selftest.mpy", compile_source(
        "ota/selftest.py", "def run():\n    return False\n", tmp_path))
    sim = boot(root, DEVICE, mosquitto_broker.port)
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        fleet.offer(make_release(key, 1, files=unhealthy), campaign=21)
        fleet.wait_state(lambda s: s[4] == 21 and s[1] == 4, timeout=300)  # on probation
        # the fleet withdraws the retained offer 21 and offers 22 unretained:
        # after the cut, only the flash can still hold it
        fleet.client.publish(f"gg/v1/dev/{DEVICE}/ota", b"", qos=1, retain=True).wait_for_publish(5)
        n = len(sim.events())
        fleet.offer(make_release(key, 2), campaign=22, retain=False)
        sim.wait_for(kind("control_service", loaded=False), after=n, timeout=60)
        assert stored.exists()
        assert fleet.states[-1][4] == 21 and fleet.states[-1][1] == 4, fleet.states  # not replaced
        power_cut(sim)
        # update 21 still runs out its probation and goes back by itself ...
        s = fleet.wait_result(1, 21, timeout=300)
        assert s[1] == 6 and s[3] == reason_code("OTA_PROBATION_FAILED"), fleet.states
        # ... then the offer that waited is taken and installed
        assert fleet.wait_result(2, 22, timeout=300) == [2, 5, 100, 0, 22], fleet.states
    finally:
        fleet.close()
        sim.stop()
    assert not stored.exists()
    st = ota_state(flash)
    assert st["installed"] == 2 and st["failed"] == 1 and st["phase"] == 5
