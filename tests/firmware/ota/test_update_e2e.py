"""A firmware update end to end: the real firmware (firmware/main.py under
the MicroPython unix port, simulator with scanner pty) updated over a real
mosquitto from a release signed with the release key, offered with the fleet
key; the new slot's own code then runs (its version in the device state),
passes scanned during the download are decided and reported."""

from __future__ import annotations

import cbor2

from e2e_kit import Fleet, boot, kind, read_outbox
from ota_kit import (OtaFleet, compile_source, make_release, ota_state, provisioned_gate, slot_of,
                     with_file)

DEVICE = "gg-0000000e2e0a"


def app_init_with_version(version: str, tmp) -> bytes:
    from greengate.paths import FIRMWARE

    src = (FIRMWARE / "app" / "__init__.py").read_text()
    assert 'VERSION = "' in src
    src = src.replace(src[src.index('VERSION = "'):].split("\n", 1)[0], f'VERSION = "{version}"')
    return compile_source("app/__init__.py", src, tmp)


def reported_version(sub: Fleet) -> str | None:
    states = [cbor2.loads(p) for t, p, _ in sub.snapshot() if t.endswith("/state")]
    states = [s for s in states if isinstance(s, dict) and 2 in s]
    return states[-1][2] if states else None


def test_update_over_mqtt_runs_the_new_slot_and_keeps_scanning(tmp_path, mosquitto_broker):
    root, flash, site, release_key = provisioned_gate(
        tmp_path, DEVICE, device_config={"gate": {"relay_ms": 200}}, ota_probation_s=120)
    files = with_file("app/__init__.mpy", app_init_with_version("9.9.1", tmp_path))
    release = make_release(release_key, 1, files=files, version="9.9.1")

    scans = Fleet(mosquitto_broker.port, [f"gg/v1/dev/{DEVICE}/scans", f"gg/v1/dev/{DEVICE}/state"])
    sim = boot(root, DEVICE, mosquitto_broker.port)
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key, rate_bps=200_000)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        assert scans.wait(lambda m: reported_version(scans) == "0.1.0", timeout=60)
        fleet.offer(release, campaign=41)
        fleet.wait_state(lambda s: s[1] == 1 and s[2] > 0, timeout=120)  # downloading
        passes = [site.issue(b"during-%d" % i) for i in range(3)]
        for text in passes:
            sim.scan(text)
        result = fleet.wait_result(1, 41, timeout=300)
        assert result == [1, 5, 100, 0, 41], fleet.states
        assert scans.wait(lambda m: reported_version(scans) == "9.9.1", timeout=60)
        phases = [s[1] for s in fleet.states if s[4] == 41]
        assert phases[0] == 1 and phases[-1] == 5 and 4 in phases, phases
        assert sim.reboots >= 1
        assert scans.wait(lambda m: len(read_outbox(flash)) >= 3
                          and {r["seq"] for r in scans.scans()} >= set(read_outbox(flash)), timeout=60)
    finally:
        fleet.close()
        sim.stop()
        scans.close()
    assert slot_of(flash) == {"slot": "a", "prev": "", "tries": 0, "trial": 0}
    st = ota_state(flash)
    assert st["installed"] == 1 and st["phase"] == 5
    assert not (flash / "ota" / "payload.bin").exists()
    assert (flash / "slot_a" / "app" / "__init__.mpy").read_bytes() == dict(files)["app/__init__.mpy"]
    decided = [r for r in read_outbox(flash).values() if r["pass"] is not None]
    assert len(decided) == 3
