"""Build DSC-like certificates with `cryptography` for the trust-list tests
(keys and extensions the real list does not have: other curves, small RSA,
odd exponents, EKU sets), and trust-list JSON around them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from greengate.dcc.trustlist import list_entry

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
DCC_TEST, DCC_VAC, DCC_REC = (x509.ObjectIdentifier(f"1.3.6.1.4.1.1847.2021.1.{i}") for i in (1, 2, 3))
DCC_VAC_ALT = x509.ObjectIdentifier("1.3.6.1.4.1.0.1847.2021.1.2")


def make_dsc(key=None, *, country="VN", subject_c: str | None = "same", eku=None,
             not_before=T0, days=365, serial=1234) -> tuple[object, bytes]:
    """(private key, DER) of a self-signed DSC."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    c = country if subject_c == "same" else subject_c
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, "Test DSC")]
    if c:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, c))
    name = x509.Name(attrs)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=days)))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    algo = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return key, b.sign(key, algo).public_bytes(Encoding.DER)


def rsa_key(bits=2048, e=65537):
    return rsa.generate_private_key(public_exponent=e, key_size=bits)


def entry(der: bytes, country="VN", **override) -> dict:
    return {**list_entry(der, country, "2025-01-01T00:00:00+00:00"), **override}


def trustlist(*entries: dict) -> bytes:
    return json.dumps({"certificates": list(entries)}).encode()
