"""Hostile and stale offers to the real firmware through mosquitto: each is
refused with its reason in state key 15 (or key 12 when the fleet signature
itself fails), nothing is switched, no reset, and a good update still goes
through afterwards; then downgrades, replays and a too-old device are
refused against the installed release."""

from __future__ import annotations

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from e2e_kit import Subscriber, boot, kind, reason_code
from greengate.control.blobs import blob_ref
from greengate.ota import offer as ota_offer, release as rel
from ota_kit import (OtaFleet, firmware_files, make_release, ota_state, provisioned_gate, sha,
                     slot_of)

DEVICE = "gg-0000000e2e0b"


def refused(fleet: OtaFleet, campaign: int, reason: str) -> list:
    s = fleet.wait_state(lambda s: s[4] == campaign and s[1] == 7, timeout=120)
    assert s[3] == reason_code(reason), (reason, s, fleet.states[-6:])
    return s


def test_bad_offers_refused_then_an_update_and_anti_rollback(tmp_path, mosquitto_broker):
    root, flash, site, key = provisioned_gate(tmp_path, DEVICE, ota_probation_s=120)
    image = tmp_path / "fw.bin"
    image.write_bytes(bytes(range(256)) * 64)

    sim = boot(root, DEVICE, mosquitto_broker.port)
    fleet = OtaFleet(mosquitto_broker.port, DEVICE, site.fleet_key)
    state = Subscriber(mosquitto_broker.port, [f"gg/v1/dev/{DEVICE}/state"])
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)

        # 1. manifest signed by a key that is not a release key (the fleet's own)
        forged = make_release(site.fleet_key, 2)
        fleet.offer(forged, campaign=1)
        refused(fleet, 1, "OTA_SIGNATURE")

        # 2. a firmware image offered to a file-bundle gate (inline manifest)
        img = rel.build_release(image, 2, "0.2.0", 0, rel.TARGET_IMAGE, key)
        assert 1 in ota_offer.offer_body(img, 2)
        fleet.offer(img, campaign=2)
        refused(fleet, 2, "OTA_TARGET")

        # 3. an offer whose payload ref is not the manifest's payload
        good = make_release(key, 3)
        body = ota_offer.offer_body(good, 3)
        other = b"\x00" * 5000
        body[2] = blob_ref(other)
        fleet.blobs[sha(other)] = other
        fleet.offer(good, campaign=3, body=body)
        refused(fleet, 3, "OTA_HASH")

        # 4. an offer signed by someone else than the fleet: refused by the
        # control plane (key 12), the update state does not move
        fleet.offer(good, campaign=4, key=Ed25519PrivateKey.generate())
        assert state.wait(lambda m: any(
            cbor2.loads(p).get(12) == [8, reason_code("CTRL_SIGNATURE"), 0]
            for t, p, _ in m if t.endswith("/state")), timeout=60)
        assert all(s[4] != 4 for s in fleet.states)
        assert slot_of(flash) == {"slot": ""} and sim.reboots == 0

        # 5. a chunk corrupted on the way, twice: reported, downloaded again, installed
        fleet.corrupt[(sha(good.payload), 7)] = 2
        fleet.offer(good, campaign=5)
        done = fleet.wait_result(3, 5, timeout=300)
        assert done == [3, 5, 100, 0, 5], fleet.states
        seen = [s for s in fleet.states if s[4] == 5]
        assert [1, reason_code("OTA_HASH")] in [[s[1], s[3]] for s in seen], seen
        assert slot_of(flash)["slot"] == "a" and sim.reboots == 1

        # 6. anti-rollback against installed release 3
        fleet.offer(make_release(key, 2), campaign=6)
        refused(fleet, 6, "OTA_DOWNGRADE")
        fleet.offer(make_release(key, 3, version="0.3.0-again"), campaign=7)
        refused(fleet, 7, "OTA_REPLAY")
        fleet.offer(make_release(key, 9, min_previous=4), campaign=8)
        refused(fleet, 8, "OTA_TOO_OLD")
    finally:
        fleet.close()
        state.close()
        sim.stop()
    assert slot_of(flash) == {"slot": "a", "prev": "", "tries": 0, "trial": 0}
    assert sim.reboots == 1
    st = ota_state(flash)
    assert st["installed"] == 3 and st["phase"] == 7
    assert not (flash / "slot_b").exists()  # nothing refused was ever unpacked
    assert len(firmware_files()) > 50
