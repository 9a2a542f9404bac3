"""The worker allowlist on the device (gate/allowlist.py behind
rules.load_allowlist) answers membership exactly like a Python set, for the
fast path (a plain CBOR array of byte strings) and the general CBOR path, and
refuses malformed lists with CTRL_MALFORMED."""

import json
import random
from pathlib import Path

import cbor2

from mpy import run_micropython

DRIVER = Path(__file__).with_name("allowlist_driver.py")


def run(cases):
    r = run_micropython(DRIVER, stdin="".join(json.dumps(c) + "\n" for c in cases))
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def indefinite(entries):
    return b"\x9f" + b"".join(cbor2.dumps(e) for e in entries) + b"\xff"


def test_membership_matches_a_set_on_both_paths():
    rng = random.Random(5)
    cases, expected = [], []
    for n in (0, 1, 2, 7, 500):
        entries = {rng.randbytes(rng.choice([8, 12, 16])) for _ in range(n)}
        members = list(entries)
        # prefixes and zero-padded twins must not match: records carry the length
        near = [m[:-1] for m in members[:20] if len(m) > 8] + \
               [m + b"\x00" for m in members[:20] if len(m) < 16]
        probes = members + near + [rng.randbytes(16) for _ in range(50)] + [b"", b"x" * 40]
        for blob in (cbor2.dumps(members), indefinite(members),
                     cbor2.dumps(list(reversed(members)))):
            cases.append({"blob": blob.hex(), "probes": [p.hex() for p in probes]})
            expected.append(([p in entries for p in probes], len(entries)))
    for got, (hits, n) in zip(run(cases), expected):
        assert got["ok"], got
        assert got["len"] == n
        assert got["hits"] == hits


def test_malformed_lists_are_refused_cleanly():
    bad = [b"", b"\xa0", cbor2.dumps([b"short"]), cbor2.dumps([b"x" * 17]),
           cbor2.dumps([1, 2]), cbor2.dumps([b"a" * 8]) + b"\x00", b"\x9f\x48" + b"a" * 8,
           cbor2.dumps("text"), bytes(range(256))]
    for got in run([{"blob": b.hex(), "probes": []} for b in bad]):
        assert got == {"ok": False, "error": "CTRL_MALFORMED"}, got
