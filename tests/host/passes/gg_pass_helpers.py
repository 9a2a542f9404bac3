"""Shared helpers for the pass tests: keys, crafted COSE, both verifiers."""

from __future__ import annotations

import time
import zlib

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.passes import claims as c
from greengate.passes.device import Scan, check_on_device
from greengate.passes.issue import sig_structure
from greengate.passes.keys import TrustEntry, kid_for, raw_public
from greengate.passes.verify import Verifier

NOW = 1_632_200_000  # 2021-09-21T04:53:20Z, District 7 reopening weeks
SKEW = 300
ISSUER = "HCM-D7"
from pathlib import Path
REPO_ROOT = Path(__file__).resolve().parents[3]


def new_key(issuer: str = ISSUER, kid: bytes | None = None, not_after: int | None = None):
    key = Ed25519PrivateKey.generate()
    pub = raw_public(key)
    return key, TrustEntry(issuer, kid if kid is not None else kid_for(pub), pub, not_after)


def resident(**over) -> c.PassClaims:
    from datetime import date

    kw = dict(
        iss=ISSUER, iat=NOW - 3600, exp=NOW + 7 * 86400, cti=bytes.fromhex("0011223344556677"),
        role=c.Role.RESIDENT, initials="NVA", birth_year=1985,
        vaccination=c.Vaccination(2, date(2021, 8, 1)), health_decl=date(2021, 9, 20),
        zone=c.Zone.GREEN,
    )
    kw.update(over)
    return c.PassClaims(**kw)


def cose(payload: bytes, key, kid: bytes | None = None, phdr: dict | None = None,
         uhdr: dict | None = None, tag: int | None = 18, signature: bytes | None = None) -> bytes:
    """A COSE_Sign1 with every part under the test's control (signed properly
    unless `signature` is given)."""
    if phdr is None:
        phdr = {1: -8, 4: kid if kid is not None else kid_for(raw_public(key))}
    protected = cbor2.dumps(phdr) if phdr else b""
    sig = signature if signature is not None else key.sign(sig_structure(protected, payload))
    arr = [protected, uhdr or {}, payload, sig]
    return cbor2.dumps(cbor2.CBORTag(tag, arr) if tag is not None else arr)


def text_for(body: bytes, compress: bool = False) -> str:
    if compress:
        body = zlib.compress(body, 9)
    return "GG1:" + base45.b45encode(body).decode()


def reference_answers(scans: list[Scan], trust: list[TrustEntry], skew: int = SKEW) -> list[dict]:
    v = Verifier(trust, skew)
    out = []
    for s in scans:
        r = v.check(s.qr, s.now)
        claims = None
        if r.claims is not None:
            claims = {k: (val.hex() if isinstance(val, bytes) else val) for k, val in r.claims.items()}
        out.append({
            "verdict": r.verdict, "reason": r.reason_name, "claims": claims,
            "pass_hash": r.pass_hash.hex() if r.pass_hash else None,
        })
    return out


def both(scans: list[Scan], trust: list[TrustEntry], skew: int = SKEW):
    """(device answers, reference answers) for the same scans."""
    return check_on_device(scans, trust, skew), reference_answers(scans, trust, skew)


def assert_same(scans, dev, ref):
    diffs = [(s.qr, d, r) for s, d, r in zip(scans, dev, ref) if d != r]
    assert not diffs, f"{len(diffs)} differences, first: {diffs[0]}"


def now() -> int:
    return int(time.time())
