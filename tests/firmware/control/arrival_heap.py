"""Heap of the control plane's messages on the device, under MicroPython:
- the arrival of a signed control message (MQTT read -> control service
  inbox -> verify -> commit), drivers/arrival_heap_driver.py;
- control/state.py with config, trust and revocation messages near the
  4 KiB cap (resident, commit(), body()), drivers/state_heap_driver.py.
Used by test_state.py, and a measurement tool for docs/memory.md:

    python3 tests/firmware/control/arrival_heap.py [--firmware DIR] [--pad N ...]

prints the state numbers, then per pad the resident client + state + service
and the smallest -X heapsize in which three arrivals of a signed config of
~N+160 bytes succeed (binary search, 1 KB steps). DIR may be a tree of .mpy
files (mpy-cross -march=x64), which keeps compiler garbage out of the
number; a copy of an older firmware/ gives the "before"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

from ctrl_kit import DEVICE, DRIVERS, SITE, T0, Fleet, config_body  # noqa: E402
from mpy import FIRMWARE, MICROPYTHON  # noqa: E402

from greengate.control.envelope import (  # noqa: E402
    device_scope,
    encode_payload,
    fleet_scope,
    sign_payload,
)


def signed_configs(fleet: Fleet, pad: int, n: int = 3) -> list[bytes]:
    """Configs v1..n with a text field of `pad` bytes (the host tool caps at
    4,000 bytes; the device accepts up to 4,096: signed here directly)."""
    return [sign_payload(encode_payload(1, v, config_body(name="x" * pad), device_scope(DEVICE),
                                        T0, T0 + 86400), fleet.key) for v in range(1, n + 1)]


def big_lists(fleet: Fleet) -> dict[int, bytes]:
    """Config, trust list and revocation messages (version 1) near the cap."""
    trust = [[b"k%03d" % i, bytes([i]) * 32, "ISSUER-%03d" % i, 0] for i in range(72)]
    bodies = {1: (config_body(name="x" * 3800), device_scope(DEVICE)),
              2: (trust, fleet_scope()),
              3: ({1: {1: bytes(32), 2: 100}, 2: None, 9: "x" * 3800}, fleet_scope())}
    return {kind: sign_payload(encode_payload(kind, 1, body, scope, T0, T0 + 86400), fleet.key)
            for kind, (body, scope) in bodies.items()}


def state_heap(fleet: Fleet, msgs: dict[int, bytes], firmware: Path = FIRMWARE) -> dict:
    root = Path(tempfile.mkdtemp(dir=fleet.tmp))
    req = {"root": str(root), "device": DEVICE, "site": SITE, "now": T0 + 60,
           "keys": [fleet.key_file.read_bytes().hex()],
           "messages": [[k, fleet.file(m)] for k, m in msgs.items()]}
    env = dict(os.environ, MICROPYPATH=f"{firmware}:.frozen")
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=4m", str(DRIVERS / "state_heap_driver.py")],
                       input=json.dumps(req).encode(), capture_output=True, env=env, timeout=300)
    shutil.rmtree(root, ignore_errors=True)
    if r.returncode:
        raise AssertionError(r.stderr.decode())
    return json.loads(r.stdout.decode().splitlines()[-1])


def run(fleet: Fleet, msgs: list[bytes], heap_kb: int, firmware: Path = FIRMWARE) -> tuple[bool, str]:
    root = Path(tempfile.mkdtemp(dir=fleet.tmp))
    req = {"root": str(root), "device": DEVICE, "site": SITE,
           "key": fleet.key_file.read_bytes().hex(), "messages": [fleet.file(m) for m in msgs]}
    env = dict(os.environ, MICROPYPATH=f"{firmware}:.frozen")
    r = subprocess.run([MICROPYTHON, "-X", f"heapsize={heap_kb}k", str(DRIVERS / "arrival_heap_driver.py")],
                       input=json.dumps(req).encode(), capture_output=True, env=env, timeout=300)
    shutil.rmtree(root, ignore_errors=True)
    return r.returncode == 0, (r.stdout + r.stderr).decode()


def smallest_heap(fleet: Fleet, msgs: list[bytes], firmware: Path, lo: int = 16, hi: int = 4096) -> int:
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run(fleet, msgs, mid, firmware)[0]:
            hi = mid
        else:
            lo = mid
    return hi


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--firmware", type=Path, default=FIRMWARE)
    ap.add_argument("--pad", type=int, nargs="*", default=[3800, 100])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        fleet = Fleet(Path(d))
        lists = big_lists(fleet)
        st = state_heap(fleet, lists, args.firmware)
        print(f"control state with signed lists of {', '.join(f'{len(m):,}' for m in lists.values())}"
              f" bytes: resident {st['resident']:,} B")
        for (kind, size, alloc), (_, balloc, held) in zip(st["commit"], st["body"]):
            print(f"  kind {kind}: commit() allocates {alloc:,} B; body() allocates {balloc:,} B"
                  f" (GC off), its result holds {held:,} B")
        for pad in args.pad:
            msgs = signed_configs(fleet, pad)
            ok, out = run(fleet, msgs, 4096, args.firmware)
            if not ok:
                raise SystemExit(out)
            res = json.loads(out.splitlines()[-1])
            kb = smallest_heap(fleet, msgs, args.firmware)
            print(f"signed config of {len(msgs[0]):,} bytes: resident client + state + service"
                  f" {res['resident']:,} B; smallest heap for 3 arrivals {kb} KB")


if __name__ == "__main__":
    main()
