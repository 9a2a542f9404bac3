"""Duplicate-scan window (firmware/gate/occupancy.py) under the MicroPython
unix port: heap it holds (gc.mem_alloc after gc.collect) and time per
admit / seen_within with a full window (best of several rounds).

    python3 bench/bench_occupancy.py                       # firmware/
    python3 bench/bench_occupancy.py --firmware /tmp/fw    # e.g. a copy of an older tree

Numbers go to docs/memory.md; the machine is shared, so times are best-of-N.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from mpy import FIRMWARE, run_micropython  # noqa: E402

SCRIPT = r"""
import gc, time, hashlib
from gate.occupancy import Occupancy

def h(i):
    # a pass hash as the verifier makes it (SHA-256 prefix, 16 bytes):
    # a fresh object per scan
    return hashlib.sha256(b"pass %d" % i).digest()[:16]

def admit(lo, hi):
    for i in range(lo, hi):
        o.admit(h(i), 1600000000 + i)

o = None
gc.collect()
base = gc.mem_alloc()
o = Occupancy()
gc.collect()
print("heap empty|%d" % (gc.mem_alloc() - base))

admit(0, 256)
gc.collect()
print("heap 256 admissions|%d" % (gc.mem_alloc() - base))
admit(256, 1000)
gc.collect()
print("heap 1,000 admissions|%d" % (gc.mem_alloc() - base))

keys = {"hit newest": h(999), "hit oldest": h(744), "miss": h(5000)}
now = 1600000000 + 1000
ROUNDS, N = 7, 2000
for label, k in keys.items():
    best = 1e9
    for _ in range(ROUNDS):
        t = time.ticks_us()
        for _ in range(N):
            o.seen_within(k, now, 60)
        best = min(best, time.ticks_diff(time.ticks_us(), t) / N)
    print("seen_within %s, us|%.2f" % (label, best))
hashes = [h(i) for i in range(2000, 2000 + N)]
best = 1e9
for r in range(ROUNDS):
    t = time.ticks_us()
    for i in range(N):
        o.admit(hashes[i], now + i)
    best = min(best, time.ticks_diff(time.ticks_us(), t) / N)
print("admit (full window), us|%.2f" % best)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firmware", type=Path, default=FIRMWARE)
    args = ap.parse_args()
    res = run_micropython(SCRIPT, extra_path=[args.firmware], heap="4m")
    if res.returncode:
        raise SystemExit(res.stderr.decode())
    print(f"gate/occupancy.py from {args.firmware} (MicroPython unix port, 64-bit)")
    for line in res.stdout.decode().splitlines():
        label, value = line.split("|")
        print(f"  {label:36s} {value:>10s}")


if __name__ == "__main__":
    main()
