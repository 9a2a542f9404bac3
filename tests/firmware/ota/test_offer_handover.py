"""The offer's hand-over from the control plane to the updater, on the real
firmware through mosquitto (docs/memory.md "Firmware updates"): the control
service verifies the kind-8 offer, stores it on flash (ota/offer.py) and
unloads; only then is the offer taken by the updater, so the two are never
loaded together. A stored offer survives a power cut and is taken at the
next boot; one that comes while an update is on probation waits on flash
and is taken once that update is settled."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cbor2

from e2e_kit import boot, broker_url, kind, power_cut, reason_code
from greengate.ota import offer as host_offer
from greengate.paths import FIRMWARE
from greengate.sim.terminal import SimTerminal, micropython_binary
from ota_kit import OtaFleet, compile_source, make_release, ota_state, provisioned_gate, with_file

DEVICE = "gg-0000000e2e0f"
DRIVER = Path(__file__).with_name("driver_offer_modules.py")


def taken(e) -> bool:
    return e.get("kind") == "ota" and e.get("offer") == "taken"


class ModulesSim(SimTerminal):
    """The simulator booting through driver_offer_modules.py ("mods" events)."""

    def _spawn(self) -> None:
        p = self.paths
        env = dict(os.environ)
        env.update(MICROPYPATH=f"{FIRMWARE}:.frozen", GG_FLASH_DIR=str(p.flash),
                   GG_SCANNER_PTY=os.ttyname(self._slave),
                   GG_CONSOLE_PTY=os.ttyname(self._console[1]), GG_EVENT_FILE=str(p.events),
                   GG_INPUT_DIR=str(p.inputs), GG_DISPLAY_DUMP=str(p.display))
        self.proc = subprocess.Popen([micropython_binary(), "-X", f"heapsize={self.heap}", str(DRIVER)],
                                     env=env, cwd=str(p.root), stdout=self._stdout, stderr=self._stderr)


def test_offer_is_taken_after_the_control_plane_unloaded(tmp_path, mosquitto_broker):
    root, flash, site, key = provisioned_gate(tmp_path, DEVICE, ota_probation_s=120)
    stored = flash / "ota" / "offer.cbor"
    release = make_release(key, 1)
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key)
    sim = ModulesSim(root, device_id=DEVICE, broker=broker_url(mosquitto_broker.port))
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        n = len(sim.events())
        fleet.offer(release, campaign=31)
        mods = sim.wait_for(kind("mods"), after=n, timeout=120)
        # none of the control service's modules in sys.modules when the updater takes it
        assert mods["control"] == [] and mods["updater"] is True, mods
        evs = sim.events()[n:]
        at = next(i for i, e in enumerate(evs) if taken(e))
        control = [e["loaded"] for e in evs[:at] if e.get("kind") == "control_service"]
        assert control == [True, False], evs[:at + 1]  # loaded for the offer, then unloaded
        fleet.wait_state(lambda s: s[4] == 31 and s[1] == 1 and s[2] >= 10, timeout=120)
    finally:
        sim.stop()
    assert not stored.exists()
    st = ota_state(flash)
    assert st["phase"] == 1 and st["campaign"] == 31

    # A power cut after the updater recorded the offer in state.json but
    # before it removed the file: the next boot only removes it, and the
    # download goes on to the end.
    stored.write_bytes(cbor2.dumps([st["offer"], host_offer.offer_body(release, 31)]))
    sim = boot(root, DEVICE, mosquitto_broker.port)
    try:
        sim.start()
        sim.wait_for(kind("ota", offer="known"), timeout=60)
        assert fleet.wait_result(1, 31, timeout=300) == [1, 5, 100, 0, 31], fleet.states
    finally:
        fleet.close()
        sim.stop()
    assert not stored.exists()
    assert not any(taken(e) for e in sim.events())
    after = ota_state(flash)
    assert after["offer"] == st["offer"] and after["installed"] == 1 and after["phase"] == 5


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
        for release, campaign in ((2, 22), (3, 23)):  # two offers wait: the newest wins
            n = len(sim.events())
            fleet.offer(make_release(key, release), campaign=campaign, retain=False)
            sim.wait_for(kind("control_service", loaded=False), after=n, timeout=60)
            assert cbor2.loads(stored.read_bytes())[1][3] == campaign
        assert fleet.states[-1][4] == 21 and fleet.states[-1][1] == 4, fleet.states  # not replaced
        power_cut(sim)
        # update 21 still runs out its probation and goes back by itself ...
        s = fleet.wait_result(1, 21, timeout=300)
        assert s[1] == 6 and s[3] == reason_code("OTA_PROBATION_FAILED"), fleet.states
        # ... then the newest offer that waited is taken and installed
        assert fleet.wait_result(3, 23, timeout=300) == [3, 5, 100, 0, 23], fleet.states
    finally:
        fleet.close()
        sim.stop()
    assert not stored.exists()
    assert not [s for s in fleet.states if s[4] == 22], fleet.states
    st = ota_state(flash)
    assert st["installed"] == 3 and st["failed"] == 1 and st["phase"] == 5
