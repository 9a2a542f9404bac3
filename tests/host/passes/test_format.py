"""The GG1 wire format: layout, size budget, QR symbol, scan round trip."""

import zlib

import base45
import cbor2
import pytest
import segno
import zxingcpp
from PIL import Image

from gg_pass_helpers import NOW, SKEW, new_key, resident
from greengate.passes.claims import PassClaims
from greengate.passes.issue import issue, make_qr, save_qr, wrap
from greengate.passes.verify import Verifier


@pytest.fixture(scope="module")
def key():
    return new_key()


def test_typical_resident_pass_fits_the_budget(key):
    text = issue(resident(), key[0])
    assert len(text) <= 300
    qr = make_qr(text)
    assert qr.error == "M" and qr.mode == "alphanumeric" and qr.version <= 10
    # And the budget is not met by luck: the longest allowed texts still fit.
    big = resident(iss="X" * 32, initials="ĐĐĐĐĐĐ", business="B" * 16, cti=b"\xff" * 16)
    text = issue(big, key[0])
    assert len(text) <= 360 and make_qr(text).version <= 11


def test_layout_is_tag18_sign1_with_protected_alg_and_kid(key):
    sk, entry = key
    body = base45.b45decode(issue(resident(), sk)[4:])
    assert body[0] == 0xD2  # tag 18; not compressed: zlib would not be shorter
    tag = cbor2.loads(body)
    protected, unprotected, payload, sig = tag.value
    assert cbor2.loads(protected) == {1: -8, 4: entry.kid} and unprotected == {}
    assert len(sig) == 64
    assert PassClaims.from_cwt(cbor2.loads(payload)) == resident()


def test_zlib_only_when_shorter(key):
    cose = bytes(40) + b"\xd2" * 200  # compressible
    assert base45.b45decode(wrap(cose)[4:])[0] == 0x78
    rnd = bytes(range(256))
    assert wrap(rnd) == "GG1:" + base45.b45encode(rnd).decode()
    assert zlib.decompress(base45.b45decode(wrap(rnd, compress=True)[4:])) == rnd


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_qr_image_scans_back_to_the_same_text(key, tmp_path, suffix):
    text = issue(resident(), key[0])
    path = tmp_path / ("pass" + suffix)
    qr = save_qr(text, path)
    assert qr.error == "M"
    if suffix == ".svg":
        assert path.read_text().lstrip().startswith("<?xml")
        path = tmp_path / "pass.png"
        save_qr(text, path)
    (found,) = zxingcpp.read_barcodes(Image.open(path), formats=zxingcpp.BarcodeFormat.QRCode)
    assert found.format == zxingcpp.BarcodeFormat.QRCode and found.text == text
    assert found.ec_level == "M"
    # What the scanner read verifies.
    assert Verifier([key[1]], SKEW).check(found.text, NOW).verdict


def test_printed_card_pass_is_the_same_format_with_long_validity(key):
    card = resident(exp=NOW + 365 * 86400, initials="LTM", birth_year=1950)
    text = issue(card, key[0])
    assert make_qr(text).version <= 10
    v = Verifier([key[1]], SKEW)
    assert v.check(text, NOW + 300 * 86400).verdict
    assert v.check(text, NOW + 366 * 86400).reason_name == "EXPIRED"


def test_segno_agrees_alphanumeric_is_the_cheapest_mode(key):
    text = issue(resident(), key[0])
    assert segno.make(text, error="m", boost_error=False).version == make_qr(text).version
