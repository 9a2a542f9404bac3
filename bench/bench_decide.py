"""Scan-to-verdict time on the device path, under the MicroPython unix port.

Builds (once, cached under /tmp) a 1,000,000-entry revocation snapshot, a
500-entry worker allowlist (written as the fleet does: sorted), a trust list
and a set of passes, then times in MicroPython:
  - RAM (gc.mem_alloc after gc.collect) the revocation store and the
    allowlist keep once opened; the same for an unsorted allowlist blob
    (searched from a sorted copy) and for one open file object,
  - Snapshot.contains() and `key in allowlist` for members and non-members
    (per lookup, cold = first pass, warm = second),
  - one open()+close() of the snapshot file (what opening it per lookup
    would add),
  - the false-positive count over --non-members random non-members,
  - gate.rules.evaluate() alone, verifier.check() alone, Decider.decide() total.
The ESP32 is roughly 70x slower than this port (docs: shared reference).

    python3 bench/bench_decide.py [--non-members 1000000] [--scans 200]
                                  [--firmware DIR]  (a copy of firmware/, for before/after)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "firmware" / "control")]

import cbor2  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from greengate.control.config import allowlist_blob  # noqa: E402
from greengate.passes.issue import sign1, wrap  # noqa: E402
from greengate.passes.keys import kid_for, raw_public  # noqa: E402
from mpy import run_micropython  # noqa: E402
from rev_kit import cached_snapshot  # noqa: E402

SEED = 7
N = 1_000_000
T = 1_632_300_000
TODAY = (T + 25200) // 86400

MPY = r"""
import sys, json, time, gc
from codec import cbor
from gate import rules
from gate import allowlist  # imported first: its code is not the allowlist's RAM
import fsutil
from gate.decide import Decider
from gate.occupancy import Occupancy
from store import revocation
from verify.trust import TrustStore
from verify.verifier import Verifier
import hashlib

work = sys.argv[1]
args = json.loads(open(work + "/args.json").read())


def load_allow(path):
    try:
        return rules.load_allowlist(path)  # a path: searched on flash
    except TypeError:  # older firmware (--firmware): takes the bytes
        with open(path, "rb") as f:
            return rules.load_allowlist(f.read())


gc.collect()
m0 = gc.mem_alloc()
t = time.ticks_us()
revs = revocation.Revocations.open(args["snapshot"])
load_us = time.ticks_diff(time.ticks_us(), t)
gc.collect()
m1 = gc.mem_alloc()
t = time.ticks_us()
allow = load_allow(work + "/allow.cbor")
allow_load_us = time.ticks_diff(time.ticks_us(), t)
gc.collect()
m2 = gc.mem_alloc()
unsorted = load_allow(work + "/allow_unsorted.cbor")
gc.collect()
m3 = gc.mem_alloc()
f = open(args["snapshot"], "rb")
gc.collect()
m4 = gc.mem_alloc()
f.close()
unsorted_len = len(unsorted)
unsorted = f = None
trust = TrustStore()
trust.load_bytes(open(work + "/trust.cbor", "rb").read())
cfg = rules.SiteConfig(cbor.loads(open(work + "/config.cbor", "rb").read()), allow)
ver = Verifier(trust)
occ = Occupancy()
dec = Decider(ver, revs, cfg, occ, None)
out = {"store_load_us": load_us, "store_ram_bytes": m1 - m0, "allowlist_ram_bytes": m2 - m1,
       "allowlist_load_us": allow_load_us, "allowlist_entries": len(allow),
       "allowlist_unsorted_ram_bytes": m3 - m2, "allowlist_unsorted_entries": unsorted_len,
       "open_file_ram_bytes": m4 - m3}

def hashes(tag, n):
    p = b"%s%d:" % (tag, args["seed"])
    return [hashlib.sha256(p + bytes([(i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255])).digest()[:16]
            for i in range(n)]

def lookups(prefix, name, keys, fn):
    # cold: the first pass (pays the OS page cache misses); warm: best of the
    # next 3 (the machine is shared and noisy)
    for rep in range(4):
        gc.collect()
        t = time.ticks_us()
        for k in keys:
            fn(k)
        us = time.ticks_diff(time.ticks_us(), t) / len(keys)
        key = "%s_%s_%s" % (prefix, name, "cold" if rep == 0 else "warm")
        if rep < 2 or us < out[key]:
            out[key] = us


for tag, name in ((b"m", "member"), (b"o", "non_member")):
    lookups("lookup_us", name, hashes(tag, 10000), revs.contains)
    gc.collect()

# the allowlist: its 500 entries (each probe 20 times) and 10,000 others
listed = [bytes(x) for x in cbor.loads(open(work + "/allow.cbor", "rb").read())]
lookups("allow_us", "member", listed * 20, allow.__contains__)
lookups("allow_us", "non_member", hashes(b"a", 10000), allow.__contains__)
listed = None
gc.collect()

# what opening the snapshot per lookup would add (best of 3 x 2,000)
best_open = None
for _ in range(3):
    t = time.ticks_us()
    for _ in range(2000):
        open(args["snapshot"], "rb").close()
    us = time.ticks_diff(time.ticks_us(), t) / 2000
    best_open = us if best_open is None or us < best_open else best_open
out["open_close_us"] = best_open

# false positives over many non-members, in slices to bound the heap
fp = 0
left = args["non_members"]
first = 0
pre = b"o%d:" % args["seed"]
ctr = bytearray(4)
while first < left:
    i = first
    end = min(left, first + 50000)
    while i < end:
        ctr[0] = (i >> 24) & 255; ctr[1] = (i >> 16) & 255; ctr[2] = (i >> 8) & 255; ctr[3] = i & 255
        h = hashlib.sha256(pre); h.update(ctr)
        if revs.contains(h.digest()[:16]):
            fp += 1
        i += 1
    first = end
out["fp_hits"] = fp
out["fp_trials"] = left

qrs = [l.strip() for l in open(work + "/passes.txt")]
now0 = args["now"]
claims = [None] * len(qrs)
best = {}


def phase(name, fn):
    # best of 3 rounds (this machine is shared and noisy); us per item
    for _ in range(3):
        gc.collect()
        t = time.ticks_us()
        fn()
        us = time.ticks_diff(time.ticks_us(), t) / len(qrs)
        if name not in best or us < best[name]:
            best[name] = us


def verify_all():
    for i, q in enumerate(qrs):
        r = ver.check(q, now0)
        claims[i] = (r.claims, r.pass_hash)


def rules_all():
    occ.__init__()
    for i, (c, h) in enumerate(claims):
        rules.evaluate(cfg, c, h, now0 + 10 * i, occ)


def revocation_all():
    for c, h in claims:
        revs.contains(h)


verdicts = {}


def decide_all():
    occ.__init__()
    verdicts.clear()
    for i, q in enumerate(qrs):
        d = dec.decide(q, now0 + 10 * i)
        verdicts[d.reason] = verdicts.get(d.reason, 0) + 1


phase("verify_us", verify_all)
phase("rules_us", rules_all)
phase("revocation_us_scan", revocation_all)
phase("decide_us", decide_all)
out.update(best)
out["verdicts"] = verdicts
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--non-members", type=int, default=1_000_000)
    ap.add_argument("--scans", type=int, default=200)
    ap.add_argument("--firmware", type=Path, default=None,
                    help="a copy of firmware/ to measure instead (before/after)")
    a = ap.parse_args()

    t0 = time.time()
    snap, info = cached_snapshot(SEED, N)
    build_s = time.time() - t0
    with tempfile.TemporaryDirectory(prefix="gg-bench-decide-") as tmp:
        res = _run(Path(tmp), a)
    res.update(
        entries=info.entries, bytes=info.size, bits_per_entry=round(info.bits_per_entry, 3),
        fingerprint_bits=info.fingerprint_bits, rice_k=info.rice_k, blocks=info.blocks,
        stated_fp_rate=info.false_positive_rate, host_build_or_cache_s=round(build_s, 2),
        measured_fp_rate=res["fp_hits"] / max(1, res["fp_trials"]),
        decide_minus_verify_us=round(res["decide_us"] - res["verify_us"], 1),
    )
    print(json.dumps(res, indent=2))


def _run(work: Path, a: argparse.Namespace) -> dict:
    snap, _ = cached_snapshot(SEED, N)
    issuer = Ed25519PrivateKey.generate()
    pk = raw_public(issuer)
    (work / "trust.cbor").write_bytes(cbor2.dumps([[kid_for(pk), pk, "SYT-HCM", 0]]))
    ctis = [b"cti-%05d" % i for i in range(a.scans)]
    allow = ctis[: a.scans // 2] + [os.urandom(12) for _ in range(500 - a.scans // 2)]
    (work / "allow.cbor").write_bytes(allowlist_blob(allow[:500]))  # as the fleet: sorted
    (work / "allow_unsorted.cbor").write_bytes(cbor2.dumps(allow[:500]))
    week = [[[0, 1440]]] * 7
    rules = [[1, {1: [0, 1, 2, 3, 4]}], [11, {1: [[2, {1: 2, 2: 14}], [3, {1: 72}]]}], [4, {}],
             [5, {1: 7}], [6, {1: [0, 1]}], [7, {1: week}], [8, {}], [9, {1: 10**6}], [10, {1: 5}]]
    (work / "config.cbor").write_bytes(cbor2.dumps({1: "q7-bench", 2: "BIZ-1", 3: 25200, 4: False, 5: rules}))
    with open(work / "passes.txt", "w") as f:
        for i in range(a.scans):
            gg = {1: i % 2, 2: "NVA", 3: 1980, 4: [2, TODAY - 40], 7: TODAY, 8: "BIZ-1", 9: 0}
            cwt = {1: "SYT-HCM", 4: T + 86400 * 30, 6: T - 86400, 7: ctis[i], -65537: gg}
            f.write(wrap(sign1(cbor2.dumps(cwt), issuer)) + "\n")
    (work / "args.json").write_text(json.dumps(
        {"snapshot": str(snap), "seed": SEED, "non_members": a.non_members, "now": T}))
    r = run_micropython(MPY, args=[str(work)], timeout=3600, heap="16m",
                        extra_path=[a.firmware.resolve()] if a.firmware else None)
    if r.returncode != 0:
        sys.exit("micropython failed:\n" + r.stderr.decode() + r.stdout.decode())
    return json.loads(r.stdout.decode().splitlines()[-1])


if __name__ == "__main__":
    main()
