"""The host release library (greengate/ota): a signed manifest anyone can
check with the release key, a payload that is the listed files in order,
refusals for every kind of tampering."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import envelope
from greengate.ota import offer, release as rel
from greengate.paths import FIRMWARE

KEY = Ed25519PrivateKey.generate()
PUB = rel.raw_public(KEY)


@pytest.fixture(scope="module")
def bundle():
    return rel.build_release(FIRMWARE, 7, "0.7.0", 5, rel.TARGET_BUNDLE, KEY, created_at=1_700_000_000)


def test_bundle_holds_every_module_compiled_and_the_data_files(bundle):
    info = rel.verify_manifest(bundle.manifest, [PUB])
    paths = [f[0] for f in info["files"]]
    assert paths == sorted(paths)
    sources = {p.relative_to(FIRMWARE).as_posix() for p in FIRMWARE.rglob("*.py")} - rel.NOT_IN_BUNDLE
    assert {p[:-4] + ".py" for p in paths if p.endswith(".mpy")} == sources
    assert {"display/texts.bin", "display/font_sans10.bin"} <= set(paths)
    for path, data in rel.split_payload(info, bundle.payload):
        if path.endswith(".mpy"):
            assert data[:1] == b"M"  # mpy header
    assert info["release"] == 7 and info["min_previous"] == 5 and info["version"] == "0.7.0"
    assert info["kid"] == hashlib.sha256(PUB).digest()[:8].hex()


def test_manifest_layout_is_the_documented_one(bundle):
    tag = cbor2.loads(bundle.manifest)
    assert tag.tag == 18
    protected, unprotected, payload, sig = tag.value
    assert cbor2.loads(protected) == {1: -8, 4: hashlib.sha256(PUB).digest()[:8]}
    body = cbor2.loads(payload)
    assert set(body) == {1, 2, 3, 4, 5, 6, 7}
    assert body[7] == {1: hashlib.sha256(bundle.payload).digest(), 2: len(bundle.payload)}
    assert b"".join(d for _, d in rel.split_payload(bundle.info, bundle.payload)) == bundle.payload


def test_build_is_reproducible(bundle):
    again = rel.build_release(FIRMWARE, 7, "0.7.0", 5, rel.TARGET_BUNDLE, KEY, created_at=1_700_000_000)
    assert again.payload == bundle.payload and again.manifest == bundle.manifest


def test_write_and_load_round_trip(bundle, tmp_path):
    bundle.write(tmp_path / "r")
    back = rel.Release.load(tmp_path / "r", [PUB])
    assert back == bundle
    (tmp_path / "r" / rel.PAYLOAD_FILE).write_bytes(bundle.payload[:-1] + b"\0")
    with pytest.raises(rel.ReleaseError, match="payload"):
        rel.Release.load(tmp_path / "r", [PUB])


def test_wrong_key_and_tampering_refused(bundle):
    other = rel.raw_public(Ed25519PrivateKey.generate())
    with pytest.raises(rel.ReleaseError, match="no release key"):
        rel.verify_manifest(bundle.manifest, [other])
    tag = cbor2.loads(bundle.manifest)
    protected, unprot, payload, sig = tag.value
    body = cbor2.loads(payload)
    body[1] = 8  # a higher release number under the old signature
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, unprot, cbor2.dumps(body, canonical=True), sig]))
    with pytest.raises(rel.ReleaseError, match="no release key"):
        rel.verify_manifest(forged, [PUB])
    for junk in (b"", b"\xff", cbor2.dumps([1, 2]), cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""]))):
        with pytest.raises(rel.ReleaseError):
            rel.verify_manifest(junk, [PUB])


def test_malformed_bodies_refused_even_when_signed():
    good = {1: 2, 2: "0.2", 3: 1, 4: 0, 5: 1, 6: [["a.mpy", 3, b"\0" * 32]], 7: {1: b"\0" * 32, 2: 3}}
    bad = [
        {**good, 1: 0}, {**good, 1: -1}, {**good, 2: ""}, {**good, 4: 2},
        {**good, 6: []}, {**good, 6: [["a", 3, b"\0" * 31]]}, {**good, 7: {1: b"\0" * 32, 2: 4}},
        {**good, 5: "x"},
    ]
    rel.verify_manifest(rel.sign_manifest(good, KEY), [PUB])
    for body in bad:
        with pytest.raises(rel.ReleaseError):
            rel.verify_manifest(rel.sign_manifest(body, KEY), [PUB])


def test_arguments_checked(tmp_path):
    for args in ((0, "1", 0, 0), (2, "1", 3, 0), (2, "", 0, 0), (2, "1", 0, 5)):
        with pytest.raises(rel.ReleaseError):
            rel.build_release(FIRMWARE, *args, KEY)
    with pytest.raises(rel.ReleaseError, match="not a firmware tree"):
        rel.build_release(tmp_path, 1, "1", 0, 0, KEY)


def test_image_target(tmp_path):
    image = tmp_path / "fw.bin"
    image.write_bytes(bytes(range(256)) * 100)
    r = rel.build_release(image, 3, "0.3.0", 0, rel.TARGET_IMAGE, KEY)
    assert r.info["files"] == [["firmware.bin", 25600, hashlib.sha256(image.read_bytes()).hexdigest()]]
    assert r.payload == image.read_bytes()
    body = offer.offer_body(r, 9)
    assert body[1] == r.manifest and 4 not in body  # small: inline


def test_big_manifest_travels_as_a_blob_and_the_offer_fits(bundle):
    fleet = Ed25519PrivateKey.generate()
    body = offer.offer_body(bundle, 4)
    assert 1 not in body and body[4][1] == hashlib.sha256(bundle.manifest).digest()
    assert body[2] == {1: hashlib.sha256(bundle.payload).digest(), 2: len(bundle.payload), 3: 768}
    assert set(offer.offer_blobs(bundle)) == {body[2][1], body[4][1]}
    data = envelope.sign_message(8, 1, body, envelope.device_scope("gg-000000000001"), fleet, 1, 2)
    assert len(data) < 4000


def test_selftest_pass_is_fresh_and_verifies_on_the_host():
    import subprocess
    import sys

    from greengate.passes.keys import TrustEntry
    from greengate.passes.verify import Verifier
    from greengate.paths import REPO

    r = subprocess.run([sys.executable, str(REPO / "tools" / "ota" / "gen_selftest.py"), "--check"])
    assert r.returncode == 0, "firmware/ota/selftest.py is stale: run tools/ota/gen_selftest.py"
    ns: dict = {"const": lambda x: x}
    src = (FIRMWARE / "ota" / "selftest.py").read_text().replace("from micropython import const\n", "")
    exec(compile(src, "selftest.py", "exec"), ns)
    entry = TrustEntry(ns["ISSUER"], hashlib.sha256(ns["KEY"]).digest()[:8], ns["KEY"], None)
    assert Verifier([entry]).check(ns["PASS"], ns["NOW"]).verdict is True
