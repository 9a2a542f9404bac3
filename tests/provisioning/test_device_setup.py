"""The provisioning protocol end to end: the real firmware SETUP service
under MicroPython on one side of a virtual USB cable, the real tool on the
other (pyserial on a pty path)."""

import hashlib
import json
import os
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fleet.services.provision import possession_message
from greengate.control import envelope
from provisioning import device
from provisioning.device import FirmwareFile
from provisioning.errors import DeviceRefused, DeviceSilent, TransferError
from provisioning.link import Link
from provisioning.ports import open_port
from provisioning.vcable import VirtualCable


def raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def bundle(key, device_id, site="12", keys=None, url="mqtt://127.0.0.1:1883", version=1,
           release_keys=None):
    now = int(time.time())
    body = {1: site, 2: url, 3: device_id, 4: "s3cret", 5: keys or [raw(key.public_key())], 6: None}
    if release_keys is not None:
        body[7] = release_keys  # firmware update keys (docs/protocol.md "Firmware updates")
    return envelope.sign_message(envelope.KIND_PROVISION, version, body,
                                 envelope.device_scope(device_id), key, now, now + 3600)


def test_hello_key_and_proof_of_possession(setup_device):
    dev = setup_device(chip_id="00aabbccddee")
    link = dev.link()
    info = device.hello(link)
    assert info.chip_id == "00aabbccddee"
    assert info.device_id == "gg-00aabbccddee"
    assert info.public_key is None and not info.provisioned
    pub, created = device.ensure_key(link)
    assert created and len(pub) == 32
    assert device.ensure_key(link) == (pub, False)  # kept: no re-keying
    challenge, fleet_key = os.urandom(40), os.urandom(32)
    sig = device.sign_challenge(link, challenge, fleet_key)
    Ed25519PublicKey.from_public_bytes(pub).verify(
        sig, possession_message(fleet_key, "gg-00aabbccddee", challenge))
    new_pub, created = device.ensure_key(link, rekey=True)
    assert created and new_pub != pub
    assert device.hello(link).public_key == new_pub
    # the seed stays on the device: nothing the tool can read holds it
    nvs = json.loads((dev.flash / "nvs.json").read_text())
    assert "id_seed" in nvs


def test_deploy_checks_hashes_and_sends_only_changes(setup_device):
    dev = setup_device()
    link = dev.link()
    files = [FirmwareFile("main.py", b"print('gate')\n"),
             FirmwareFile("lib/big.bin", os.urandom(5000)),
             FirmwareFile("crypto/x.mpy", os.urandom(777)),
             FirmwareFile("empty.py", b"")]
    sent = device.deploy(link, files)
    assert sorted(sent) == sorted(f.path for f in files)
    for f in files:
        assert hashlib.sha256((dev.flash / f.path).read_bytes()).digest() == f.sha256
    assert not (dev.flash / ".stage" / "main.py").exists()
    # re-running only sends what changed
    files[1] = FirmwareFile("lib/big.bin", os.urandom(4000))
    assert device.deploy(link, files) == ["lib/big.bin"]
    assert (dev.flash / "lib/big.bin").read_bytes() == files[1].data


def test_damaged_bytes_on_the_cable_are_detected_and_resent(setup_device):
    dev = setup_device(corrupt_rate=0.0005)
    link = dev.link(timeout=1.0, retries=8)
    files = [FirmwareFile(f"m{i}.bin", os.urandom(3000)) for i in range(4)]
    device.deploy(link, files)
    for f in files:
        assert (dev.flash / f.path).read_bytes() == f.data
    assert dev.cable.corrupted > 0
    assert link.resent > 0


def test_a_line_that_only_carries_garbage_fails_with_transfer_error(setup_device):
    dev = setup_device(corrupt_rate=0.2)
    with pytest.raises(TransferError):
        link = dev.link(timeout=0.5, retries=3)  # HELLO already fails here
        device.deploy(link, [FirmwareFile("a.bin", os.urandom(2000))])
    assert dev.cable.corrupted > 0


def test_unsafe_paths_are_refused(setup_device):
    link = setup_device().link()
    for path in ["../evil.py", "/abs.py", "config.json", "a/.hidden.py", "x.sh", "a/b/c/d/e.py",
                 "nvs.json", "sp ace.py"]:
        with pytest.raises(DeviceRefused) as e:
            link.request(device.PUT, {1: path, 2: 0, 3: b"x", 4: 1})
        assert e.value.code == "path", path


def test_bad_requests_get_answers_not_crashes(setup_device):
    link = setup_device().link()
    with pytest.raises(DeviceRefused):
        link.request(device.PUT, {1: "a.py", 2: "zero", 3: b"x", 4: 1})
    with pytest.raises(DeviceRefused):
        link.request(device.PUT, {1: "a.py", 2: 5, 3: b"x", 4: 1})  # gap: chunks come in order
    with pytest.raises(DeviceRefused) as e:
        link.request(0x55, {})
    assert e.value.code == "unknown"
    with pytest.raises(DeviceRefused):
        link.request(device.COMMIT, {1: [["a.py", b"\x00" * 32]]})
    assert device.hello(link).protocol == 2  # still answering


def test_commit_refuses_a_file_whose_hash_differs(setup_device):
    dev = setup_device()
    link = dev.link()
    link.request(device.PUT, {1: "m.py", 2: 0, 3: b"abc", 4: 3})
    with pytest.raises(DeviceRefused) as e:
        link.request(device.COMMIT, {1: [["m.py", hashlib.sha256(b"abd").digest()]]})
    assert e.value.code == "hash"
    assert not (dev.flash / "m.py").exists()


def test_config_bundle_blank_device_then_only_trusted_fleet_keys(setup_device):
    dev = setup_device(chip_id="0123456789ab")
    link = dev.link()
    fleet = Ed25519PrivateKey.generate()
    device.write_config(link, bundle(fleet, "gg-0123456789ab"), "Cafe Q7", "wifi-pass")
    cfg = json.loads((dev.flash / "config.json").read_text())
    assert cfg["device_id"] == "gg-0123456789ab" and cfg["site_id"] == "12"
    assert cfg["fleet_keys"] == [raw(fleet.public_key()).hex()]
    assert cfg["broker"]["user"] == "gg-0123456789ab"
    assert cfg["wifi"] == {"ssid": "Cafe Q7", "password": "wifi-pass"}
    assert device.hello(link).provisioned
    before = (dev.flash / "config.json").read_bytes()
    # a stranger's key, even with its own key inside, is refused now
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(DeviceRefused) as e:
        device.write_config(link, bundle(stranger, "gg-0123456789ab"))
    assert e.value.code == "CTRL_SIGNATURE"
    with pytest.raises(DeviceRefused) as e:
        device.write_config(link, bundle(fleet, "gg-ffffffffffff"))
    assert e.value.code == "CTRL_SCOPE"
    with pytest.raises(DeviceRefused):
        device.write_config(link, b"\xd2\x84garbage")
    assert (dev.flash / "config.json").read_bytes() == before
    # the fleet itself may rotate to a new key it signed for
    rotated = Ed25519PrivateKey.generate()
    device.write_config(link, bundle(fleet, "gg-0123456789ab", keys=[raw(rotated.public_key())],
                                     version=2))
    cfg = json.loads((dev.flash / "config.json").read_text())
    assert cfg["fleet_keys"] == [raw(rotated.public_key()).hex()]


def test_release_keys_come_with_the_bundle_and_stay_when_it_has_none(setup_device):
    dev = setup_device(chip_id="0123456789ac")
    link = dev.link()
    fleet = Ed25519PrivateKey.generate()
    release = raw(Ed25519PrivateKey.generate().public_key())
    device.write_config(link, bundle(fleet, "gg-0123456789ac", release_keys=[release]))
    cfg = json.loads((dev.flash / "config.json").read_text())
    assert cfg["release_keys"] == [release.hex()]
    assert cfg["fleet_keys"] == [raw(fleet.public_key()).hex()]  # two roles, two keys
    device.write_config(link, bundle(fleet, "gg-0123456789ac", version=2))
    assert json.loads((dev.flash / "config.json").read_text())["release_keys"] == [release.hex()]
    before = (dev.flash / "config.json").read_bytes()
    for bad in ([b"\0" * 31], [release] * 5, "x", [release.hex()]):
        with pytest.raises(DeviceRefused) as e:
            device.write_config(link, bundle(fleet, "gg-0123456789ac", version=3, release_keys=bad))
        assert e.value.code == "CTRL_MALFORMED"
    assert (dev.flash / "config.json").read_bytes() == before


def test_a_fleet_signed_bundle_cannot_swap_the_release_keys(setup_device):
    """A stolen fleet key plus one USB session must not put the thief's
    release key on a gate: once it holds release keys, a bundle with other
    ones is refused whole (the same keys again are fine); factory reset is
    the way to change them."""
    dev = setup_device(chip_id="0123456789ad")
    link = dev.link()
    fleet = Ed25519PrivateKey.generate()
    release = raw(Ed25519PrivateKey.generate().public_key())
    thief = raw(Ed25519PrivateKey.generate().public_key())
    device.write_config(link, bundle(fleet, "gg-0123456789ad", release_keys=[release]))
    before = (dev.flash / "config.json").read_bytes()
    for keys in ([thief], [release, thief]):
        with pytest.raises(DeviceRefused) as e:
            device.write_config(link, bundle(fleet, "gg-0123456789ad", version=2, release_keys=keys))
        assert e.value.code == "CTRL_SIGNATURE"
        assert (dev.flash / "config.json").read_bytes() == before
    device.write_config(link, bundle(fleet, "gg-0123456789ad", version=3, release_keys=[release],
                                     site="13"))
    cfg = json.loads((dev.flash / "config.json").read_text())
    assert cfg["release_keys"] == [release.hex()] and cfg["site_id"] == "13"


def test_nothing_on_the_line_is_device_silent():
    with VirtualCable() as cable:
        port = open_port(cable.host_path)
        try:
            with pytest.raises(DeviceSilent):
                Link(port, timeout=0.3, retries=2).request(device.HELLO)
        finally:
            port.close()


def test_whole_firmware_switches_in_one_commit(setup_device):
    from greengate.paths import FIRMWARE
    from provisioning import build

    dev = setup_device()
    link = dev.link()
    files = build.source_firmware(FIRMWARE)
    assert len(files) > 40  # its manifest is far bigger than one frame
    sent = device.deploy(link, files)
    assert len(sent) == len(files)
    for f in files:
        assert (dev.flash / f.path).read_bytes() == f.data, f.path
    assert not (dev.flash / ".stage" / "commit.json").exists()
    assert device.deploy(link, files) == []  # nothing changed: nothing sent


def test_a_staged_manifest_that_does_not_match_its_hash_is_refused(setup_device):
    dev = setup_device()
    link = dev.link()
    listing = json.dumps({"files": [["m.py", hashlib.sha256(b"abc").hexdigest()]]}).encode()
    link.request(device.PUT, {1: "m.py", 2: 0, 3: b"abc", 4: 3})
    link.request(device.PUT, {1: "commit.json", 2: 0, 3: listing, 4: len(listing)})
    with pytest.raises(DeviceRefused) as e:
        link.request(device.COMMIT, {3: hashlib.sha256(listing + b" ").digest()})
    assert e.value.code == "hash"
    assert not (dev.flash / "m.py").exists()
    link.request(device.COMMIT, {3: hashlib.sha256(listing).digest()})
    assert (dev.flash / "m.py").read_bytes() == b"abc"
