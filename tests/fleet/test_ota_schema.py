"""State key 15 (OTA status, docs/protocol.md 4.2) from a hostile gate: every
malformed value is refused with BAD_STATE before the database; a good one
reaches apply_state as five small integers."""

from __future__ import annotations

import random

import cbor2
import pytest

from fleet.broker_bridge import schema, wire

GOOD = [7, 1, 40, 0, 3]


def decode(ota) -> dict:  # noqa: ANN001
    return wire.decode_state(cbor2.dumps({1: True, 2: "0.3.1", 15: ota}))


def test_good_and_null_reports():
    assert decode(GOOD)["ota"] == GOOD
    assert decode([2**31 - 1, 7, 100, 127, 2**31 - 1])["ota"] == [2**31 - 1, 7, 100, 127, 2**31 - 1]
    assert "ota" not in decode(None)
    assert "ota" not in wire.decode_state(cbor2.dumps({1: True}))


@pytest.mark.parametrize("ota, why", [
    ([7, 1, 40, 0], "four fields"),
    ([7, 1, 40, 0, 3, 9], "six fields"),
    ([2**31, 1, 40, 0, 3], "release over the Integer column"),
    ([7, 8, 40, 0, 3], "phase past 7 failed"),
    ([7, 1, 101, 0, 3], "percent over 100"),
    ([7, 1, 40, 128, 3], "reason over 127"),
    ([7, 1, 40, 0, 2**31], "campaign over the Integer column"),
    ([7, 1, -1, 0, 3], "negative percent"),
    ([7, 1, 40.5, 0, 3], "float"),
    ([7, True, 40, 0, 3], "bool for int"),
    ([b"\x07", 1, 40, 0, 3], "bytes for int"),
    (["7", 1, 40, 0, 3], "text for int"),
    ({1: 7}, "a map"),
    (7, "a number"),
    ([7, 1, 40, 0, [3]], "nested array"),
    ([7, 1, 40, 0, 2**64], "bignum"),
])
def test_hostile_key_15_refused(ota, why):
    with pytest.raises(wire.WireError) as e:
        decode(ota)
    assert e.value.code == "BAD_STATE", why


def test_random_key_15_never_escapes_the_schema():
    rng = random.Random(15)
    values = [0, 1, 7, 8, 100, 101, 127, 128, 2**31 - 1, 2**31, -1, 2**64, 1.0, True, None, b"", "x", [], {}]
    for _ in range(5000):
        ota = [rng.choice(values) if rng.random() < 0.3 else g for g in GOOD]
        if rng.random() < 0.1:
            ota = ota[:rng.randint(0, 6)]
        try:
            out = decode(ota)
        except wire.WireError as e:
            assert e.code == "BAD_STATE"
            continue
        r, phase, pct, reason, cid = out["ota"]
        assert all(type(x) is int for x in out["ota"])
        assert 0 <= r <= schema.INT32 and 0 <= phase <= 7 and 0 <= pct <= 100
        assert 0 <= reason <= 127 and 0 <= cid <= schema.INT32
