"""DSC trust-list import (greengate/dcc/trustlist.py): the real 832-certificate
EU list checked certificate by certificate against OpenSSL's own reading, and
hostile lists and certificates."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import textwrap
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from dsc_helpers import (DCC_REC, DCC_TEST, DCC_VAC, DCC_VAC_ALT, T0, entry, make_dsc, rsa_key,
                         trustlist)

from greengate.dcc.trustlist import (ALG_ES256, ALG_PS256, MAX_CERTS, DscError, Signer,
                                     parse_trustlist, signer_from_der)

LIST = "dcc-trustlist/trustlist_de.json"
DCC_OID = {"1.3.6.1.4.1.1847.2021.1.1": "t", "1.3.6.1.4.1.1847.2021.1.2": "v",
           "1.3.6.1.4.1.1847.2021.1.3": "r", "1.3.6.1.4.1.0.1847.2021.1.1": "t",
           "1.3.6.1.4.1.0.1847.2021.1.2": "v", "1.3.6.1.4.1.0.1847.2021.1.3": "r"}


def _openssl_blocks(entries: list[dict]) -> list[str]:
    """`openssl pkcs7 -print_certs -text` of every certificate, in list order."""
    pem = "".join("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(e["rawData"], 64))
                  + "\n-----END CERTIFICATE-----\n" for e in entries)
    p7 = subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", "/dev/stdin"],
                        input=pem.encode(), capture_output=True, check=True).stdout
    text = subprocess.run(["openssl", "pkcs7", "-print_certs", "-text", "-noout"],
                          input=p7, capture_output=True, check=True).stdout.decode()
    return re.split(r"^Certificate:\n", text, flags=re.M)[1:]


def _hex_after(block: str, label: str) -> bytes:
    lines = block.split("\n")
    i = next(n for n, line in enumerate(lines) if line.strip() == label)
    out = ""
    for line in lines[i + 1:]:
        if not re.fullmatch(r"\s+[0-9a-f:]+", line):
            break
        out += line.strip().replace(":", "")
    return bytes.fromhex(out)


def _time(block: str, label: str) -> int:
    m = re.search(label + r" *: (.+ GMT)", block)
    return int(datetime.strptime(m.group(1), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc).timestamp())


def _openssl_view(block: str) -> dict:
    """What OpenSSL says about one certificate, in Signer terms."""
    bits = int(re.search(r"Public-Key: \((\d+) bit\)", block).group(1))
    ec_key = "id-ecPublicKey" in block
    eku = re.search(r"X509v3 Extended Key Usage:[^\n]*\n +([^\n]+)", block)
    oids = [o.strip() for o in eku.group(1).split(",")] if eku else []
    found = {DCC_OID[o] for o in oids if o in DCC_OID}
    return {
        "alg": ALG_ES256 if ec_key else ALG_PS256,
        "bits": bits,
        "key": _hex_after(block, "pub:") if ec_key else _hex_after(block, "Modulus:").lstrip(b"\0"),
        "e": 0 if ec_key else int(re.search(r"Exponent: (\d+)", block).group(1)),
        "curve": re.search(r"NIST CURVE: (\S+)", block).group(1) if ec_key else None,
        "types": "".join(c for c in "vtr" if c in found),
        "not_before": _time(block, "Not Before"),
        "not_after": _time(block, "Not After"),
        "negative_serial": bool(re.search(r"Serial Number: -\d|Serial Number: \(Negative\)", block)),
    }


@pytest.fixture(scope="module")
def real_list(testdata):
    data = (testdata / LIST).read_bytes()
    return data, json.loads(data)["certificates"]


def test_real_list_matches_openssl_certificate_by_certificate(real_list):
    data, entries = real_list
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the negative serials must not even warn
        result = parse_trustlist(data)
    assert result.refused == []
    assert len(result.signers) == len(entries) == 832
    views = _openssl_blocks(entries)
    assert len(views) == 832
    for e, s, block in zip(entries, result.signers, views):
        v = _openssl_view(block)
        der = base64.b64decode(e["rawData"])
        assert s.kid == hashlib.sha256(der).digest()[:8] == base64.b64decode(e["kid"])
        assert s.der == der and s.country == e["country"]
        assert (s.alg, s.key, s.e, s.types) == (v["alg"], v["key"], v["e"], v["types"]), e["kid"]
        assert (s.not_before, s.not_after) == (v["not_before"], v["not_after"])
        if s.alg == ALG_ES256:
            assert v["curve"] == "P-256" and len(s.key) == 65 and s.key[0] == 4
        else:
            assert len(s.key) * 8 == v["bits"]
    # The published shape of the list (issue 13): 794 ES256, 38 PS256, 77 countries,
    # the RSA keys 35 x 2048 and 3 x 4096 bits, and five negative serial numbers.
    views = [_openssl_view(b) for b in views]
    assert sum(v["alg"] == ALG_ES256 for v in views) == 794
    assert sorted(v["bits"] for v in views if v["alg"] == ALG_PS256) == [2048] * 35 + [4096] * 3
    assert len({s.country for s in result.signers}) == 77
    negative = [s for s, v in zip(result.signers, views) if v["negative_serial"]]
    assert len(negative) == 5 and {s.country for s in negative} == {"LB"}


def test_real_list_with_a_clock_refuses_only_expired(real_list):
    data, entries = real_list
    now = int(datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp())
    result = parse_trustlist(data, now=now)
    views = [_openssl_view(b) for b in _openssl_blocks(entries)]
    expired = sum(v["not_after"] < now for v in views)
    assert 0 < expired < 832
    assert len(result.refused) == expired
    assert {r.code for r in result.refused} == {"EXPIRED"}
    assert all(s.not_after >= now for s in result.signers)


def test_usage_oids_both_variants_and_unrelated_ekus():
    cases = [
        (None, ""),
        ([DCC_VAC], "v"),
        ([DCC_TEST, DCC_REC], "tr"),
        ([DCC_REC, DCC_TEST, DCC_VAC], "vtr"),
        ([DCC_VAC_ALT], "v"),
        ([x509_oid("1.3.6.1.5.5.7.3.2")], ""),  # clientAuth only: no DCC restriction
        ([x509_oid("1.3.6.1.5.5.7.3.2"), DCC_REC], "r"),
    ]
    for eku, types in cases:
        _, der = make_dsc(eku=eku)
        s = signer_from_der(der, "VN")
        assert s.types == types
        assert s.may_sign("v") == (types in ("", "v", "vtr"))


def x509_oid(dotted: str):
    from cryptography.x509 import ObjectIdentifier
    return ObjectIdentifier(dotted)


def test_rsa_keys_sizes_and_exponent():
    for bits in (2048, 3072, 4096):
        key, der = make_dsc(rsa_key(bits))
        s = signer_from_der(der, "VN")
        assert (s.alg, s.e, len(s.key)) == (ALG_PS256, 65537, bits // 8)
        assert int.from_bytes(s.key, "big") == key.public_key().public_numbers().n
    for key, code in ((rsa_key(1024), "RSA_SIZE"), (rsa_key(2048, e=3), "RSA_EXPONENT"),
                      (ec.generate_private_key(ec.SECP384R1()), "EC_CURVE"),
                      (ed25519.Ed25519PrivateKey.generate(), "KEY_TYPE")):
        _, der = make_dsc(key)
        with pytest.raises(DscError) as err:
            signer_from_der(der, "VN")
        assert err.value.code == code


def test_ec_key_bytes_are_the_uncompressed_point():
    key, der = make_dsc()
    s = signer_from_der(der, "VN")
    n = key.public_key().public_numbers()
    assert s.key == b"\x04" + n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big") and s.e == 0
    assert s.not_before == int(T0.timestamp()) and s.not_after == int((T0 + timedelta(days=365)).timestamp())
    assert "Test DSC" in s.subject and s.subject == s.issuer


def test_negative_serial_of_our_own_making_is_accepted():
    # cryptography's builder refuses a negative serial, so patch one into the DER:
    # the INTEGER 0x11223344 -> 0x91223344 (negative) keeps every length unchanged.
    _, der = make_dsc(serial=0x11223344)
    bad = der.replace(b"\x02\x04\x11\x22\x33\x44", b"\x02\x04\x91\x22\x33\x44", 1)
    assert bad != der
    assert signer_from_der(bad, "VN").kid == hashlib.sha256(bad).digest()[:8]


def test_country_checks():
    _, der = make_dsc(country="VN")
    for country in ("vn", "VNM", "", None, 7, "V1"):
        with pytest.raises(DscError) as err:
            signer_from_der(der, country)
        assert err.value.code == "BAD_COUNTRY"
    with pytest.raises(DscError) as err:
        signer_from_der(der, "DE")
    assert err.value.code == "COUNTRY_MISMATCH"
    _, no_c = make_dsc(subject_c=None)
    assert signer_from_der(no_c, "DE").country == "DE"


def test_not_certificates():
    _, der = make_dsc()
    for junk in (b"", b"\x30\x03\x02\x01\x01", b"hello", der[:-1], der + b"\0", der[:200],
                 bytes(2000), b"\x30\x82\xff\xff" + der[4:]):
        with pytest.raises(DscError) as err:
            signer_from_der(junk, "VN")
        assert err.value.code in ("NOT_A_CERTIFICATE",)
    with pytest.raises(DscError) as err:
        signer_from_der(bytes(20000), "VN")
    assert err.value.code == "TOO_BIG"


def _refused_codes(*entries) -> list[str]:
    return [r.code for r in parse_trustlist(trustlist(*entries)).refused]


def test_list_entry_checks():
    _, der = make_dsc()
    _, other = make_dsc()
    good = entry(der)
    assert parse_trustlist(trustlist(good)).signers[0].kid == hashlib.sha256(der).digest()[:8]
    cases = [
        (entry(der, kid=entry(other)["kid"]), "KID_MISMATCH"),
        (entry(der, thumbprint="00" * 32), "THUMBPRINT_MISMATCH"),
        (entry(der, thumbprint=5), "THUMBPRINT_MISMATCH"),
        (entry(der, rawData="***"), "BAD_BASE64"),
        (entry(der, rawData=None), "BAD_ENTRY"),
        (entry(der, rawData="A" * 100_000), "TOO_BIG"),
        (entry(der, kid=None), "BAD_ENTRY"),
        (entry(der, kid="@@"), "BAD_BASE64"),
        (entry(der, certificateType="CSCA"), "BAD_ENTRY"),
        (entry(der, country="DE"), "COUNTRY_MISMATCH"),
        (entry(der, country=["VN"]), "BAD_COUNTRY"),
        (entry(base64.b64decode(base64.b64encode(b"not a cert"))), "NOT_A_CERTIFICATE"),
        ("a string", "BAD_ENTRY"),
        (None, "BAD_ENTRY"),
    ]
    for bad, code in cases:
        assert _refused_codes(bad, good) == [code], bad
    assert len(parse_trustlist(trustlist(good, {"x": 1})).signers) == 1


def test_duplicate_kid_keeps_the_first():
    _, der = make_dsc()
    r = parse_trustlist(trustlist(entry(der), entry(der)))
    assert len(r.signers) == 1 and [x.code for x in r.refused] == ["DUPLICATE_KID"]


def test_validity_window():
    _, der = make_dsc(days=30)
    s = signer_from_der(der, "VN")
    assert signer_from_der(der, "VN", now=s.not_after) == s  # the last second still counts
    with pytest.raises(DscError) as err:
        signer_from_der(der, "VN", now=s.not_after + 1)
    assert err.value.code == "EXPIRED"
    assert signer_from_der(der, "VN", now=s.not_before - 86400) == s  # not yet valid: kept
    _, backwards = make_dsc(days=0)
    with pytest.raises(DscError) as err:
        signer_from_der(backwards, "VN")
    assert err.value.code == "BAD_VALIDITY"


@pytest.mark.parametrize("data, code", [
    (b"", "BAD_JSON"), (b"{", "BAD_JSON"), (b"\xff\xfe", "BAD_JSON"), (b"[1]", "NOT_A_LIST"),
    (b'{"certificates": {}}', "NOT_A_LIST"), (b'{"certs": []}', "NOT_A_LIST"), (b"null", "NOT_A_LIST"),
    (b"[" * 100_000 + b"]" * 100_000, "BAD_JSON"),
    (json.dumps({"certificates": [1] * (MAX_CERTS + 1)}).encode(), "TOO_MANY"),
])
def test_hostile_files(data, code):
    with pytest.raises(DscError) as err:
        parse_trustlist(data)
    assert err.value.code == code


def test_file_size_cap(monkeypatch):
    import greengate.dcc.trustlist as tl
    monkeypatch.setattr(tl, "MAX_FILE", 100)
    with pytest.raises(DscError) as err:
        parse_trustlist(b" " * 101)
    assert err.value.code == "TOO_LARGE"


def test_empty_list_is_a_list():
    r = parse_trustlist(b'{"certificates": []}')
    assert r.signers == [] and r.refused == []


def test_signer_is_frozen():
    _, der = make_dsc()
    s = signer_from_der(der, "VN")
    with pytest.raises(Exception):
        s.kid = b"x"  # type: ignore[misc]
    assert isinstance(s, Signer) and hash(s)


def test_written_list_reads_back():
    from greengate.dcc.trustlist import trustlist_json

    dscs = [make_dsc(country="VN")[1], make_dsc(rsa_key(), country="DE", eku=[DCC_TEST])[1]]
    r = parse_trustlist(trustlist_json([(dscs[0], "VN"), (dscs[1], "DE")]))
    assert r.refused == [] and [(s.der, s.country, s.types) for s in r.signers] == [
        (dscs[0], "VN", ""), (dscs[1], "DE", "t")]
