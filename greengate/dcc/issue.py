"""Test DCCs for demos and tests only (`greengate pass issue-dcc`): a local
test DSC (self-signed X.509 with the EU DCC key-usage OIDs, made with
`cryptography`) signs EU Digital COVID Certificates, ES256 or PS256, as the
"HC1:" text a phone shows. Never a real certificate: the DSC is not on any
EU trust list, only on the trust list a test or demo gives its gates.

    make_dsc(alg, country, types="", not_before=, not_after=) -> TestDsc
    dcc_payload(kind, iss, iat, exp, uci, ...) -> CWT claims map
    sign_hc1(claims, dsc, kid_in="protected") -> "HC1:..."
    qr_png(text, path)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from dataclasses import dataclass

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

ES256, PS256 = -7, -37
EKU = {"t": "1.3.6.1.4.1.1847.2021.1.1", "v": "1.3.6.1.4.1.1847.2021.1.2", "r": "1.3.6.1.4.1.1847.2021.1.3"}
NEGATIVE, POSITIVE = "260415000", "260373001"
NAAT, RAT = "LP6464-4", "LP217198-3"
COMIRNATY = "EU/1/20/1528"


@dataclass
class TestDsc:
    private_key: object
    der: bytes
    alg: int
    country: str

    @property
    def kid(self) -> bytes:
        return hashlib.sha256(self.der).digest()[:8]

    def pem_key(self) -> bytes:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())


def _ts(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


def make_dsc(alg: int = ES256, country: str = "VN", types: str = "", not_before: int = 1_609_459_200,
             not_after: int = 1_924_992_000, rsa_bits: int = 2048, private_key=None) -> TestDsc:
    """A self-signed test DSC. types: subset of "vtr" written as the EU DCC
    extended key usage OIDs ("" = no EKU: every type)."""
    if private_key is None:
        private_key = (ec.generate_private_key(ec.SECP256R1()) if alg == ES256
                       else rsa.generate_private_key(65537, rsa_bits))
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"GreenGate TEST DSC {country}")])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(private_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(_ts(not_before)).not_valid_after(_ts(not_after))
         .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True))
    if types:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(EKU[t]) for t in types]), False)
    sig_hash = hashes.SHA256()
    cert = b.sign(private_key, sig_hash)
    return TestDsc(private_key, cert.public_bytes(serialization.Encoding.DER), alg, country)


def _day(t: int) -> str:
    return _ts(t).strftime("%Y-%m-%d")


def dcc_payload(kind: str, iss: str, iat: int, exp: int, uci: str, *, family: str = "NGUYEN",
                given: str = "VAN AN", dob: str = "1980-05-17", doses: int = 2, series: int = 2,
                dose_day: int | None = None, product: str = COMIRNATY, test_type: str = NAAT,
                result: str = NEGATIVE, sample_time: int | None = None, first_positive: int | None = None,
                valid_from: int | None = None, valid_until: int | None = None) -> dict:
    """CWT claims of one DCC (schema 1.3.0; only what a gate reads is varied)."""
    common = {"tg": "840539006", "co": iss, "is": "GreenGate TEST issuer", "ci": uci}
    if kind == "v":
        entry = {**common, "vp": "1119349007", "mp": product, "ma": "ORG-100030215", "dn": doses,
                 "sd": series, "dt": _day(dose_day if dose_day is not None else iat - 30 * 86400)}
    elif kind == "t":
        entry = {**common, "tt": test_type, "sc": _ts(sample_time if sample_time is not None else iat - 3600)
                 .strftime("%Y-%m-%dT%H:%M:%SZ"), "tr": result, "tc": "TEST centre"}
    elif kind == "r":
        fr = first_positive if first_positive is not None else iat - 20 * 86400
        entry = {**common, "fr": _day(fr), "df": _day(valid_from if valid_from is not None else fr + 11 * 86400),
                 "du": _day(valid_until if valid_until is not None else fr + 180 * 86400)}
    else:
        raise ValueError("kind must be v, t or r")
    hcert = {"ver": "1.3.0", "nam": {"fn": family.title(), "fnt": family, "gn": given.title(), "gnt": given.replace(" ", "<")},
             "dob": dob, kind: [entry]}
    return {1: iss, 4: exp, 6: iat, -260: {1: hcert}}


def _sign(dsc: TestDsc, tbs: bytes, salt: int | None) -> bytes:
    if dsc.alg == ES256:
        r, s = utils.decode_dss_signature(dsc.private_key.sign(tbs, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32 if salt is None else salt)
    return dsc.private_key.sign(tbs, pss, hashes.SHA256())


def cose_bytes(claims: dict, dsc: TestDsc, kid_in: str = "protected", salt: int | None = None) -> bytes:
    """COSE_Sign1 (tag 18) over the claims. kid_in: "protected" or
    "unprotected" (the DCC specification allows both)."""
    phdr = {1: dsc.alg}
    uhdr = {}
    (phdr if kid_in == "protected" else uhdr)[4] = dsc.kid
    protected = cbor2.dumps(phdr)
    payload = cbor2.dumps(claims)
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    return cbor2.dumps(cbor2.CBORTag(18, [protected, uhdr, payload, _sign(dsc, tbs, salt)]))


def hc1_text(cose: bytes) -> str:
    return "HC1:" + base45.b45encode(zlib.compress(cose, 9)).decode()


def sign_hc1(claims: dict, dsc: TestDsc, kid_in: str = "protected", salt: int | None = None) -> str:
    return hc1_text(cose_bytes(claims, dsc, kid_in, salt))


def qr_png(text: str, path, scale: int = 4) -> object:
    """The HC1 text as a QR code PNG (segno, alphanumeric mode, EC level Q)."""
    import segno

    qr = segno.make(text, error="q", micro=False)
    qr.save(str(path), scale=scale, border=4)
    return qr


KEY_FILE, CERT_FILE, LIST_FILE = "dsc.key", "dsc.der", "dcc-trust.json"


def trust_list_json(dscs: list[TestDsc]) -> bytes:
    """The EU gateway's JSON form ({"certificates": [...]}) listing test DSCs,
    for `greengate pass check --trust` and `greengate fleet dcc import`."""
    import base64
    import json

    certs = [{"certificateType": "DSC", "country": d.country, "kid": base64.b64encode(d.kid).decode(),
              "rawData": base64.b64encode(d.der).decode(), "thumbprint": hashlib.sha256(d.der).hexdigest(),
              "timestamp": "2021-06-01T00:00:00Z"} for d in dscs]
    return json.dumps({"certificates": certs}, indent=1).encode()


def make_dsc_files(directory, alg: int, country: str, types: str = "") -> TestDsc:
    from pathlib import Path

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    dsc = make_dsc(alg, country, types)
    import os

    key = d / KEY_FILE
    key.touch(0o600)
    os.chmod(key, 0o600)  # a private key, even a test one
    key.write_bytes(dsc.pem_key())
    (d / CERT_FILE).write_bytes(dsc.der)
    (d / LIST_FILE).write_bytes(trust_list_json([dsc]))
    return dsc


def load_dsc_files(directory) -> TestDsc:
    from pathlib import Path

    d = Path(directory)
    key = serialization.load_pem_private_key((d / KEY_FILE).read_bytes(), None)
    der = (d / CERT_FILE).read_bytes()
    alg = ES256 if isinstance(key, ec.EllipticCurvePrivateKey) else PS256
    country = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value
    return TestDsc(key, der, alg, country)
