"""greengate/dcc/table.py: the GGDT writer and its host reader."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dcc_kit import LocalSigner, fake_signers  # noqa: E402
from greengate.dcc import table  # noqa: E402


def test_round_trip_1000_signers_and_size():
    signers = fake_signers(1000, rsa_every=20)
    data = table.table_bytes(signers, version=7)
    t = table.parse(data)
    assert t.kind == table.SNAPSHOT and t.version == 7 and len(t.entries) == 1000
    assert [e.kid for e in t.entries] == sorted(s.kid for s in signers)
    for s in signers:
        e = t.find(s.kid)
        assert e.alg == s.alg and e.country == s.country
        assert e.key == (s.key[1:] if s.alg == -7 else s.key)
        assert e.types == (s.types or "vtr") and e.not_before == s.not_before and e.not_after == s.not_after
    ec_only = table.table_bytes(fake_signers(1000))
    assert len(ec_only) == 32 + 1000 * (16 + 10 + 64)  # 90 bytes per P-256 signer


@pytest.mark.parametrize("change, why", [
    (dict(kid=b"1234567"), "kid must be 8"),
    (dict(alg=-8), "alg"),
    (dict(alg=-37, key=b"\x80" * 128, e=65537), "2048..4096"),
    (dict(alg=-37, key=b"\x80" * 256, e=3), "65537"),
    (dict(key=b"\x02" + bytes(32)), "04"),
    (dict(country="vn"), "country"),
    (dict(types="x"), "subset"),
])
def test_refuses_what_the_device_cannot_use(change, why):
    s = fake_signers(1)[0]
    fields = {**s.__dict__, **change}
    with pytest.raises(ValueError, match=why):
        table.table_bytes([LocalSigner(**fields)])


def test_duplicate_kid_refused():
    a, b = fake_signers(2)
    with pytest.raises(ValueError, match="duplicate kid"):
        table.table_bytes([a, LocalSigner(**{**b.__dict__, "kid": a.kid})])


def test_times_clamped_to_u32():
    s = LocalSigner(**{**fake_signers(1)[0].__dict__, "not_before": -5, "not_after": 1 << 40})
    e = table.parse(table.table_bytes([s])).entries[0]
    assert (e.not_before, e.not_after) == (0, 0xFFFFFFFF)


def test_delta_carries_changes_and_tombstones():
    old = fake_signers(50, seed=2)
    new = old[10:] + fake_signers(5, seed=3)
    new[0] = LocalSigner(**{**new[0].__dict__, "types": "t"})
    d = table.parse(table.delta_bytes(old, new, version=9, base_version=8))
    assert d.kind == table.DELTA and d.base_version == 8 and d.version == 9
    removed = {e.kid for e in d.entries if e.alg == 0}
    assert removed == {s.kid for s in old[:10]}
    changed = {e.kid for e in d.entries if e.alg}
    assert changed == {new[0].kid} | {s.kid for s in new[-5:]}


@pytest.mark.parametrize("mutate", [
    lambda b: b[:-1],
    lambda b: b[:40],
    lambda b: b"GGDX" + b[4:],
    lambda b: b[:8] + (5000).to_bytes(4, "big") + b[12:],
])
def test_parse_refuses_malformed(mutate):
    data = table.table_bytes(fake_signers(20))
    with pytest.raises(ValueError):
        table.parse(mutate(data))
