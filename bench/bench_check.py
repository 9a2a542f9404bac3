"""Benchmark: one full pass check (QR text -> verdict) on the device code.

    python3 bench/bench_check.py [--runs 300] [--json]

- MicroPython unix port: the firmware's verify/verifier.py with a prepared
  trust store (keys prepared once, as on the device). Reports the median and
  p90 time of check(); the peak live heap of a check (smallest free heap,
  left by a ballast after setup, in which checks still pass); the bytes one
  check allocates in total with the GC disabled (garbage included: mostly
  bigint temporaries of Ed25519); the resident heap after setup; and the
  smallest `-X heapsize` that setup alone / setup + checks fit in (setup, i.e.
  preparing the key's table, is the larger peak).
- CPython reference (greengate/passes/verify.py: cbor2 + cryptography) for
  comparison: median time and tracemalloc peak.
Targets (docs/benchmarks.md): median <= 4 ms on the unix port, peak <= 64 KB.
The ESP32 is roughly 70x slower than the unix port on this kind of machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from greengate.passes import claims as c  # noqa: E402
from greengate.passes.issue import issue  # noqa: E402
from greengate.passes.keys import TrustEntry, generate, kid_for, raw_public  # noqa: E402
from greengate.passes.verify import Verifier  # noqa: E402
from mpy import MICROPYTHON, MPY_CROSS, native_march, script_file  # noqa: E402

NOW = 1_632_200_000

DEVICE_SCRIPT = r"""
import sys, json, gc, time
from binascii import unhexlify
cfg = json.loads(sys.stdin.readline())
from verify.trust import TrustStore
from verify.verifier import Verifier
store = TrustStore()
store.add(unhexlify(cfg["pub"]), cfg["issuer"])
v = Verifier(store)
text = cfg["text"]
now = cfg["now"]
if cfg["runs"] == 0:
    # Setup only: everything a check needs, resident, but no check.
    from verify import qr, cose, claims
    from codec import base45, cbor, inflate
    from crypto import ed25519, sha512
    ed25519._base()
    gc.collect()
    print(json.dumps({"resident": gc.mem_alloc()}))
    raise SystemExit
r = v.check(text, now)          # warm-up: imports, base table
assert r.verdict, r
gc.collect()
resident = gc.mem_alloc()
if cfg.get("headroom"):
    # Leave only `headroom` bytes of free heap (ballast takes the rest), then
    # check: the smallest headroom that works is one check's peak live heap.
    ballast = [None] * 8192
    i = 0
    while gc.mem_free() > cfg["headroom"] + 1024:
        ballast[i] = bytearray(1000)
        i += 1
    gc.collect()
    for _ in range(3):
        r = v.check(text, now)
        if not r.verdict:
            raise SystemExit("rejected: %r" % r)
    print(json.dumps({"ok": True}))
    raise SystemExit
gc.disable()
before = gc.mem_alloc()
v.check(text, now)
per_check = gc.mem_alloc() - before
gc.enable()
times = []
for _ in range(cfg["runs"]):
    gc.collect()
    t0 = time.ticks_us()
    r = v.check(text, now)
    times.append(time.ticks_diff(time.ticks_us(), t0))
    if not r.verdict:
        raise SystemExit("rejected: %r" % r)
gc.collect()
print(json.dumps({"times_us": times, "alloc_per_check": per_check, "resident": resident}))
"""


def typical_pass():
    from datetime import date

    key = generate()
    pub = raw_public(key)
    entry = TrustEntry("HCM-D7", kid_for(pub), pub)
    claims = c.PassClaims(
        iss="HCM-D7", iat=NOW - 3600, exp=NOW + 7 * 86400, cti=os.urandom(8), role=c.Role.RESIDENT,
        initials="NVA", birth_year=1985, vaccination=c.Vaccination(2, date(2021, 8, 1)),
        health_decl=date(2021, 9, 20), zone=c.Zone.GREEN,
    )
    return issue(claims, key), entry


def compile_firmware(out: Path) -> Path:
    """Firmware as .mpy (bytecode, viper as native code for the host: x64, or x86
    under the 32-bit build): what a device loads,
    so the heap is not charged for compiling .py source."""
    src = REPO / "firmware"
    march = native_march()
    for f in src.rglob("*.py"):
        dst = out / f.relative_to(src).with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([MPY_CROSS, f"-march={march}", str(f), "-o", str(dst)], check=True)
    return out


FW_PATH = REPO / "firmware"


def run_device(text, entry, runs, heap="4m", headroom=0):
    env = dict(os.environ, MICROPYPATH=f"{FW_PATH}:.frozen")
    cfg = {"pub": entry.public_key.hex(), "issuer": entry.issuer, "text": text, "now": NOW, "runs": runs,
           "headroom": headroom}
    p = subprocess.run([MICROPYTHON, "-X", f"heapsize={heap}", script_file(DEVICE_SCRIPT)],
                       input=json.dumps(cfg) + "\n", capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def smallest_heap(text, entry, runs):
    """Smallest -X heapsize (KB, 2 KB steps) the run fits in."""
    lo, hi = 8, 1024  # KB: lo fails, hi works
    if run_device(text, entry, runs, f"{hi}k") is None:
        return None
    while hi - lo > 2:
        mid = (lo + hi) // 2
        if run_device(text, entry, runs, f"{mid}k") is None:
            lo = mid
        else:
            hi = mid
    return hi


def check_peak(text, entry):
    """Smallest free heap (KB, 1 KB steps) in which three checks still pass."""
    lo, hi = 0, 256
    if run_device(text, entry, 1, headroom=hi * 1024) is None:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run_device(text, entry, 1, headroom=mid * 1024) is None:
            lo = mid
        else:
            hi = mid
    return hi


def run_cpython(text, entry, runs):
    v = Verifier([entry])
    assert v.check(text, NOW).verdict
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        v.check(text, NOW)
        times.append((time.perf_counter_ns() - t0) / 1000)
    tracemalloc.start()
    v.check(text, NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return times, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--source", action="store_true", help="run firmware .py source, not .mpy")
    args = ap.parse_args()
    global FW_PATH
    if not args.source:
        import tempfile

        FW_PATH = compile_firmware(Path(tempfile.mkdtemp(prefix="gg-mpy-")))
    text, entry = typical_pass()
    dev = run_device(text, entry, args.runs)
    if dev is None:
        print("micropython run failed", file=sys.stderr)
        return 1
    t = sorted(dev["times_us"])
    cp_times, cp_peak = run_cpython(text, entry, args.runs)
    result = {
        "qr_chars": len(text),
        "micropython_median_ms": round(statistics.median(t) / 1000, 3),
        "micropython_p90_ms": round(t[int(len(t) * 0.9)] / 1000, 3),
        "micropython_alloc_per_check_bytes": dev["alloc_per_check"],
        "micropython_resident_heap_bytes": dev["resident"],
        "micropython_check_peak_kb": check_peak(text, entry),
        "micropython_smallest_heap_setup_kb": smallest_heap(text, entry, 0),
        "micropython_smallest_heap_setup_and_checks_kb": smallest_heap(text, entry, 3),
        "firmware": "source .py" if args.source else f".mpy (mpy-cross -march={native_march()})",
        "cpython_median_ms": round(statistics.median(cp_times) / 1000, 3),
        "cpython_peak_bytes": cp_peak,
        "runs": args.runs,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:40s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
