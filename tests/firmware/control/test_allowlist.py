"""The worker allowlist on the device (gate/allowlist.py behind
rules.load_allowlist), searched on flash: it answers membership exactly like
a Python set, for the usual blob (a sorted definite CBOR array of byte
strings, searched in place) and any other valid shape (searched from a sorted
copy), at every page boundary; it refuses malformed lists with
CTRL_MALFORMED, and a file damaged after it was opened gives store errors
(RULE_ERROR for the worker rule: deny), never a silent answer from garbage."""

import json
import random
from pathlib import Path

import cbor2

from mpy import run_micropython

DRIVER = Path(__file__).with_name("allowlist_driver.py")


def run(tmp_path, cases):
    r = run_micropython(DRIVER, args=[str(tmp_path)],
                        stdin="".join(json.dumps(c) + "\n" for c in cases), heap="8m")
    assert r.returncode == 0, r.stderr.decode()
    out = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(out) == len(cases)
    return out


def indefinite(entries):
    return b"\x9f" + b"".join(cbor2.dumps(e) for e in entries) + b"\xff"


def case(blob, probes, page=0, **extra):
    return dict(blob=blob.hex(), probes=[p.hex() for p in probes], page=page, **extra)


def neighbours(entries, rng):
    """Probes next to each entry: a byte up or down, one byte shorter or
    longer (zero-padded twins must not match: records carry the length)."""
    out = []
    for e in entries:
        v = int.from_bytes(e, "big")
        for d in (-1, 1):
            if 0 <= v + d < 1 << (8 * len(e)):
                out.append((v + d).to_bytes(len(e), "big"))
        if len(e) > 8:
            out.append(e[:-1])
        if len(e) < 16:
            out += [e + b"\x00", e + b"\xff"]
    return out + [rng.randbytes(16) for _ in range(30)]


def test_membership_matches_a_set_on_both_paths(tmp_path):
    rng = random.Random(5)
    cases, expected = [], []
    for n in (0, 1, 2, 7, 500):
        entries = {rng.randbytes(rng.choice([8, 12, 16])) for _ in range(n)}
        members = sorted(entries)
        probes = members + neighbours(members[:20], rng) + [b"", b"x" * 40, b"\x00" * 8, b"\xff" * 16]
        shuffled = members[:]
        rng.shuffle(shuffled)
        for blob, in_place in ((cbor2.dumps(members), True), (indefinite(members), False),
                               (cbor2.dumps(list(reversed(members))), n <= 1),
                               (cbor2.dumps(shuffled), n <= 1 or shuffled == members)):
            for page in (0, 3):
                cases.append(case(blob, probes, page))
                expected.append(([p in entries for p in probes], len(entries), not in_place))
    for got, (hits, n, copy) in zip(run(tmp_path, cases), expected):
        assert got["ok"], got
        assert got["len"] == n
        assert got["sorted_copy"] == copy
        assert got["hits"] == hits


def test_every_page_boundary(tmp_path):
    # 64 entries of mixed lengths; pages of 1, 2, 3, 7, 16, 63, 64, 65 entries:
    # each page's first and last entry, what lies between two pages, below
    # the first and above the last entry
    rng = random.Random(9)
    members = sorted({rng.randbytes(rng.choice([8, 9, 15, 16])) for _ in range(64)})
    probes = members + neighbours(members, rng) + [b"\x00" * 8, b"\xff" * 16]
    entries = set(members)
    want = [p in entries for p in probes]
    pages = (1, 2, 3, 7, 16, 63, 64, 65)
    got = run(tmp_path, [case(cbor2.dumps(members), probes, page) for page in pages]
              + [case(cbor2.dumps(members[::-1]), probes, page) for page in pages])
    for g in got:
        assert g["ok"] and g["len"] == 64 and g["hits"] == want, g


def test_empty_single_and_largest_lists(tmp_path):
    rng = random.Random(2)
    big = sorted({rng.randbytes(16) for _ in range(20000)})
    probes = [big[0], big[-1], big[9999], big[10000]] + [rng.randbytes(16) for _ in range(20)]
    one = [b"12345678"]
    got = run(tmp_path, [
        case(cbor2.dumps([]), [b"\x00" * 8, b"\xff" * 16]),
        case(indefinite([]), [b"\x00" * 8]),
        case(cbor2.dumps(one), [b"12345678", b"12345677", b"12345679", b"1234567"]),
        case(cbor2.dumps(big), probes),
        case(cbor2.dumps(big[::-1]), probes),
    ])
    assert got[0] == {"ok": True, "len": 0, "hits": [False, False], "sorted_copy": False, "error": None}
    assert got[1]["ok"] and got[1]["len"] == 0 and got[1]["hits"] == [False]
    assert got[2]["hits"] == [True, False, False, False] and not got[2]["sorted_copy"]
    want = [p in set(big) for p in probes]
    assert want[:4] == [True] * 4
    for g in got[3:]:
        assert g["ok"] and g["len"] == 20000 and g["hits"] == want, g
    assert [g["sorted_copy"] for g in got[3:]] == [False, True]


def test_malformed_lists_are_refused_cleanly(tmp_path):
    too_many = cbor2.dumps([b"%08d" % i for i in range(20001)])
    bad = [b"", b"\xa0", cbor2.dumps([b"short"]), cbor2.dumps([b"x" * 17]),
           cbor2.dumps([1, 2]), cbor2.dumps([b"a" * 8]) + b"\x00", b"\x9f\x48" + b"a" * 8,
           cbor2.dumps("text"), bytes(range(256)), cbor2.dumps([b"a" * 8, b"b" * 8])[:-3],
           b"\x82\x48" + b"a" * 8, too_many]
    for got in run(tmp_path, [case(b, []) for b in bad]):
        assert got == {"ok": False, "error": "CTRL_MALFORMED"}, got


def test_file_damaged_after_opening_fails_closed(tmp_path):
    # fail closed: a lookup that reaches damaged bytes raises StoreError
    # (INTERNAL), which the worker rule turns into RULE_ERROR (deny); pages
    # the damage does not touch still answer
    rng = random.Random(4)
    members = sorted({rng.randbytes(16) for _ in range(100)})
    blob = cbor2.dumps(members)
    probes = [members[0], members[50], members[99], rng.randbytes(16)]
    # page 10: page 5 = members[50:60] starts at 2 + 50 * 17
    cut = case(blob, probes, 10, damage={"truncate": 2 + 55 * 17}, evaluate=True)
    poke = case(blob, probes, 10, damage={"poke": [2 + 50 * 17, 0x60]}, evaluate=True)
    odd = case(cbor2.dumps(members[::-1]), probes[:3], 10, damage={"truncate": 2 + 55 * 17})
    got = run(tmp_path, [cut, poke, odd])
    assert got[0]["hits"][:3] == [True, "error INTERNAL", "error INTERNAL"]
    assert got[0]["verdicts"][:3] == ["OK", "RULE_ERROR", "RULE_ERROR"]
    assert got[1]["hits"][:3] == [True, "error INTERNAL", True]
    assert got[1]["verdicts"][:3] == ["OK", "RULE_ERROR", "OK"]
    assert got[2]["sorted_copy"] and got[2]["hits"] == [True, "error INTERNAL", "error INTERNAL"]
