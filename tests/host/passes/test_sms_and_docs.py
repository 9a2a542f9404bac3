"""SMS code rules, and the worked example of docs/pass-format.md rebuilt byte for byte."""

import hashlib
import re
from datetime import date

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gg_pass_helpers import REPO_ROOT
from greengate.passes import claims as c
from greengate.passes import sms
from greengate.passes.issue import issue, make_qr, sign1
from greengate.passes.keys import TrustEntry, kid_for, raw_public
from greengate.passes.verify import Verifier


def test_sms_codes_round_trip_and_catch_typos():
    codes = {sms.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 10 and sms.is_well_formed(code)
        assert sms.is_well_formed(sms.display(code).lower())
    code = next(iter(codes))
    # Every single-symbol error is caught.
    for i in range(10):
        for ch in sms.ALPHABET:
            if ch != code[i]:
                assert not sms.is_well_formed(code[:i] + ch + code[i + 1:])
    # Adjacent transpositions: all caught except the Luhn blind spot 0 <-> Z.
    data = "0Z3456789"
    for i in range(8):
        for a in sms.ALPHABET:
            for b in sms.ALPHABET:
                if a == b or {a, b} == {"0", "Z"}:
                    continue
                d = data[:i] + a + b + data[i + 2:]
                full = d + sms.check_symbol(d)
                swapped = full[:i] + b + a + full[i + 2:]
                assert not sms.is_well_formed(swapped)
    assert sms.normalise("ol1-ABCDEFG") == "011ABCDEFG"
    assert sms.normalise("GG1:ABC") is None and not sms.is_well_formed("U" * 10)


def test_docs_example_is_exact():
    doc = (REPO_ROOT / "docs" / "pass-format.md").read_text(encoding="utf-8")
    seed = hashlib.sha256(b"GreenGate example issuer key - never use").digest()
    assert seed.hex() in doc
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pub = raw_public(sk)
    assert pub.hex() in doc and kid_for(pub).hex() in doc
    claims = c.PassClaims(
        iss="HCM-D7", iat=1632096000, exp=1632700800, cti=bytes.fromhex("5d7a1c0e9b3f4a26"),
        role=c.Role.RESIDENT, initials="NVA", birth_year=1985,
        vaccination=c.Vaccination(2, date(2021, 8, 1)), health_decl=date(2021, 9, 20), zone=c.Zone.GREEN,
    )
    cose = sign1(cbor2.dumps(claims.to_cwt()), sk)
    full_hex = re.search(r"Full hex:\n\n```\n([0-9a-f\n]+)```", doc).group(1).replace("\n", "")
    assert full_hex == cose.hex()
    text = issue(claims, sk)
    assert text in doc and f"QR text ({len(text)} characters, QR version {make_qr(text).version}-M)" in doc
    r = Verifier([TrustEntry("HCM-D7", kid_for(pub), pub)]).check(text, 1632100000)
    assert r.verdict and f"Pass hash: `{r.pass_hash.hex()}`" in doc
