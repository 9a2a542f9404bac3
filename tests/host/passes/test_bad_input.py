"""Hostile and broken input: every bit flip, every truncation, wrong and
colliding kids, time windows and skew boundaries, scanner noise. Each case
runs on the device code (MicroPython) and the reference, which must agree."""

import random
import zlib

import base45
import cbor2
import pytest

from gg_pass_helpers import NOW, SKEW, assert_same, both, cose, new_key, resident, text_for
from greengate.passes.device import Scan
from greengate.passes.issue import issue


@pytest.fixture(scope="module")
def issuer():
    return new_key()


def run(scans, trust, skew=SKEW):
    dev, ref = both(scans, trust, skew)
    assert_same(scans, dev, ref)
    return [d["reason"] for d in dev]


@pytest.mark.parametrize("compress", [False, True])
def test_every_bit_flip_of_the_qr_text_is_rejected(issuer, compress):
    sk, entry = issuer
    text = issue(resident(), sk, compress=compress)
    raw = text.encode()
    scans = [Scan(raw, NOW)]
    for i in range(len(raw)):
        for bit in range(8):
            b = bytearray(raw)
            b[i] ^= 1 << bit
            scans.append(Scan(bytes(b), NOW))
    reasons = run(scans, [entry])
    assert reasons[0] == "OK"
    assert "OK" not in reasons[1:]
    assert len(reasons) == 1 + 8 * len(raw)


def test_every_bit_flip_of_the_signed_cose_is_rejected(issuer):
    sk, entry = issuer
    body = base45.b45decode(issue(resident(), sk)[4:])
    scans = [Scan(text_for(body), NOW)]
    for i in range(len(body)):
        for bit in range(8):
            b = bytearray(body)
            b[i] ^= 1 << bit
            scans.append(Scan(text_for(bytes(b)), NOW))
    reasons = run(scans, [entry])
    assert reasons[0] == "OK" and "OK" not in reasons[1:]
    assert {"COSE", "SIGNATURE"} <= set(reasons)


def test_every_truncation_is_rejected(issuer):
    sk, entry = issuer
    plain = issue(resident(), sk)
    packed = issue(resident(), sk, compress=True)
    body = base45.b45decode(plain[4:])
    scans = [Scan(t[:n], NOW) for t in (plain, packed) for n in range(len(t))]
    scans += [Scan(text_for(body[:n]), NOW) for n in range(len(body))]
    reasons = run(scans, [entry])
    assert "OK" not in reasons and "INTERNAL" not in reasons
    assert {"PREFIX", "BASE45", "INFLATE", "COSE"} <= set(reasons)


def test_wrong_kid_and_kid_collision(issuer):
    sk, entry = issuer
    stranger_sk, stranger = new_key()
    twin_sk, twin = new_key(kid=entry.kid)          # same kid, different key
    forger_sk, _ = new_key(kid=entry.kid)            # same kid, not trusted
    payload = cbor2.dumps(resident().to_cwt())
    scans = [
        Scan(text_for(cose(payload, stranger_sk)), NOW),                  # kid not trusted
        Scan(text_for(cose(payload, sk, phdr={1: -8})), NOW),             # no kid at all
        Scan(text_for(cose(payload, sk)), NOW),                           # first of the twins
        Scan(text_for(cose(payload, twin_sk, kid=entry.kid)), NOW),       # second of the twins
        Scan(text_for(cose(payload, forger_sk, kid=entry.kid)), NOW),     # kid hit, no key verifies
        Scan(text_for(cose(payload, sk, phdr={1: -8}, uhdr={4: entry.kid})), NOW),  # kid unprotected
        Scan(text_for(cose(payload, stranger_sk, phdr={1: -8, 4: stranger.kid}, uhdr={4: entry.kid})), NOW),
    ]
    for trust in ([entry, twin], [twin, entry]):
        assert run(scans, trust) == ["KID_UNKNOWN", "KID_UNKNOWN", "OK", "OK", "SIGNATURE", "OK", "KID_UNKNOWN"]


def test_issuer_must_match_its_key_and_retired_keys_are_not_used():
    city_sk, city = new_key("HCM-D7")
    shop_sk, shop = new_key("SHOP-7", not_after=NOW)
    payload = cbor2.dumps(resident(iss="HCM-D7").to_cwt())
    own = cbor2.dumps(resident(iss="SHOP-7").to_cwt())
    scans = [
        Scan(text_for(cose(payload, shop_sk)), NOW),       # shop key, city's name
        Scan(text_for(cose(own, shop_sk)), NOW),           # shop key, own name, last second
        Scan(text_for(cose(own, shop_sk)), NOW + 1),       # key retired
        Scan(text_for(cose(payload, city_sk)), NOW),
    ]
    assert run(scans, [city, shop]) == ["CLAIMS", "OK", "KID_UNKNOWN", "OK"]


@pytest.mark.parametrize("skew", [0, SKEW])
def test_time_window_and_skew_boundaries(issuer, skew):
    sk, entry = issuer
    iat, nbf, exp = NOW - 100, NOW + 1000, NOW + 5000
    with_nbf = issue(resident(iat=iat, nbf=nbf, exp=exp), sk)
    no_nbf = issue(resident(iat=iat, exp=exp), sk)
    cases = [
        (with_nbf, nbf - skew - 1, "NOT_YET_VALID"),
        (with_nbf, nbf - skew, "OK"),
        (with_nbf, exp + skew, "OK"),
        (with_nbf, exp + skew + 1, "EXPIRED"),
        (no_nbf, iat - skew - 1, "NOT_YET_VALID"),   # issued "in the future": wrong clock
        (no_nbf, iat - skew, "OK"),
        (no_nbf, exp + skew + 1, "EXPIRED"),
        (no_nbf, None, "CLOCK"),                      # no trusted time: never accept
    ]
    scans = [Scan(t, now) for t, now, _ in cases]
    assert run(scans, [entry], skew) == [want for _, _, want in cases]


NOISE = [
    "", "GG1", "GG1:", "gg1:NCF", "GG2:NCF", "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH",
    "8934563138165",  # EAN-13 on a product
    "https://tokhaiyte.vn/?qr=1", "WIFI:S:Cafe;T:WPA;P:12345678;;",
    "079090012345|123456789|Nguyễn Văn A|01011990|Nam|Quận 7, TP.HCM|01012021",  # CCCD chip QR
    "GG1:\x00\x01\x02", "GG1:" + "\x1b[2J" * 10, "GG1:ABC\r\n", "\r\n", "GG1:" + "Z" * 5000,
    "GG1:%%%", "GG1:ZZZ", "GG1:A", "GG1: ", "GG1:ĐĐĐ", "GG1:😀",
]


def test_scanner_noise_and_random_bytes_get_a_reason(issuer):
    sk, entry = issuer
    rng = random.Random(7)
    text = issue(resident(), sk)
    scans = [Scan(t, NOW) for t in NOISE]
    scans += [Scan(rng.randbytes(rng.randint(0, 300)), NOW) for _ in range(200)]
    scans += [Scan(b"GG1:" + rng.randbytes(rng.randint(0, 300)), NOW) for _ in range(200)]
    # Partial reads: a prefix of the text cut at random plus garbage from the next read.
    scans += [Scan(text[: rng.randrange(len(text))] + rng.choice(NOISE), NOW) for _ in range(100)]
    bomb = zlib.compress(b"\x00" * 100_000, 9)  # inflates far past the cap
    scans.append(Scan("GG1:" + base45.b45encode(bomb).decode(), NOW))
    scans.append(Scan(text_for(zlib.compress(base45.b45decode(text[4:])) + b"\x00"), NOW))
    reasons = run(scans, [entry])
    assert "OK" not in reasons and "INTERNAL" not in reasons
    assert reasons[-2:] == ["INFLATE", "INFLATE"]
    assert reasons[NOISE.index("GG1:" + "Z" * 5000)] == "BASE45"
    assert reasons[NOISE.index("HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH")] == "PREFIX"


def test_unusable_trust_keys_and_empty_trust(issuer):
    sk, entry = issuer
    text = issue(resident(), sk)
    small_order = type(entry)("HCM-D7", entry.kid, bytes.fromhex("01" + "00" * 31))
    assert run([Scan(text, NOW)], [small_order]) == ["NOT_PROVISIONED"]
    assert run([Scan(text, NOW)], [small_order, entry]) == ["OK"]
    assert run([Scan(text, NOW), Scan("junk", NOW)], []) == ["NOT_PROVISIONED"] * 2


def test_claims_rules_at_their_edges(issuer):
    """Values just inside and just outside each range, and unknown claims."""
    sk, entry = issuer
    base = resident().to_cwt()

    def with_gg(**kv):
        m = {**base, -65537: {**base[-65537], **kv}}
        return m

    cases = [
        (with_gg(**{"1": 0}), "OK"),  # text key "1": unknown, ignored
        ({**base, 1: "X" * 32, 8: "unknown"}, "CLAIMS"),  # iss does not match the key's issuer
        ({**base, 7: b"\x00" * 7}, "CLAIMS"), ({**base, 7: b"\x00" * 16}, "OK"),
        ({**base, 7: b"\x00" * 17}, "CLAIMS"),
        ({**base, 99: [1, 2, {3: 4}]}, "OK"),
        ({k: v for k, v in base.items() if k != 7}, "OK"),
        ({k: v for k, v in base.items() if k != 1}, "CLAIMS"),
    ]
    for k, lo, hi in [(1, 0, 4), (3, 1900, 2100), (7, 0, 65535), (9, 0, 3)]:
        cases += [(with_gg(**{str(k): None}), "OK")]
        m_lo, m_hi, m_out, m_bool = ({**base, -65537: {**base[-65537], k: v}} for v in (lo, hi, hi + 1, True))
        cases += [(m_lo, "OK"), (m_hi, "OK"), (m_out, "CLAIMS"), (m_bool, "CLAIMS")]
    for k, txt_max in [(2, 6), (8, 16)]:
        for v, want in [("Ư" * txt_max, "OK"), ("😀" * txt_max, "OK"), ("A" * (txt_max + 1), "CLAIMS"),
                        ("", "CLAIMS"), ("A\x00", "CLAIMS"), ("A\x85", "CLAIMS"), ("A\u00a0", "OK")]:
            cases.append(({**base, -65537: {**base[-65537], k: v}}, want))
    for k, hi in [(4, 9), (5, 1), (6, 2)]:
        for v, want in [([hi, 0], "OK"), ([hi + 1, 0], "CLAIMS"), ([0], "CLAIMS"), ([0, 0, 0], "CLAIMS"),
                        ([0, -1], "CLAIMS"), ({0: 0, 1: 0}, "CLAIMS")]:
            cases.append(({**base, -65537: {**base[-65537], k: v}}, want))
    cases += [
        ({**base, -65537: {**base[-65537], 4: [0, 65535]}}, "OK"),
        ({**base, -65537: {**base[-65537], 4: [0, 65536]}}, "CLAIMS"),
        ({**base, -65537: {**base[-65537], 5: [0, 2**32 - 1]}}, "OK"),
        ({**base, -65537: {**base[-65537], 5: [0, 2**32]}}, "CLAIMS"),
        ({**base, 4: 2**32}, "CLAIMS"), ({**base, 4: 2**32 - 1}, "OK"),
        ({**base, 6: base[4] + 1}, "CLAIMS"),  # iat after exp
        ({**base, 5: base[4]}, "NOT_YET_VALID"),  # nbf == exp, in the future
        ({**base, 4: float(base[4])}, "CLAIMS"),
    ]
    scans = [Scan(text_for(cose(cbor2.dumps(cwt), sk)), NOW) for cwt, _ in cases]
    assert run(scans, [entry]) == [want for _, want in cases]
