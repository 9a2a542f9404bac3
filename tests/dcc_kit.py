"""Shared by the DCC tests (host and device) and bench/bench_dcc.py: signers
in the shape greengate.dcc.trustlist.Signer has (kid, alg, key, e,
not_before, not_after, country, types), with random key bytes, for table
tests (real keys: greengate.dcc.issue.make_dsc)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class LocalSigner:
    kid: bytes
    alg: int
    key: bytes
    e: int
    not_before: int
    not_after: int
    country: str
    types: str


def fake_signers(n: int, seed: int = 1, rsa_every: int = 0) -> list[LocalSigner]:
    """n signers with random (not curve-checked) key bytes: table tests only."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        kid = hashlib.sha256(b"%d-%d" % (seed, i)).digest()[:8]
        if rsa_every and i % rsa_every == 0:
            key = bytes([0x80 | rnd.randrange(128)]) + rnd.randbytes(255 + 128 * rnd.randrange(3))
            alg, e = -37, 65537
        else:
            key = b"\x04" + rnd.randbytes(64)
            alg, e = -7, 0
        out.append(LocalSigner(kid, alg, key, e, rnd.randrange(0, 1 << 31), rnd.choice([0, rnd.randrange(1 << 31, 1 << 32)]),
                              rnd.choice(["VN", "DE", "FR", "AT"]), rnd.choice(["", "v", "t", "r", "vt", "tr", "vtr"])))
    return out
