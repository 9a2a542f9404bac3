"""Scanner framing cost under the MicroPython unix port.

    python3 bench/bench_scanner.py

Feeds the firmware's Framer a 450-character pass text (+ CR) in 64-byte
chunks, as the reader does, and reports microseconds per code and per byte.
The ESP32 is roughly 70x slower than the unix port on this kind of code
(docs/benchmarks.md); compare with the wire time of the same code: ~40 ms at
115200 baud, ~470 ms at 9600.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mpy import run_micropython  # noqa: E402

SCRIPT = """
import time
from scanner.framer import Framer
codes = []
f = Framer(codes.append, repeat_ms=0)
line = b"GG1:" + b"A1B2C3D4E5" * 44 + b"67\\r"
chunks = [line[i:i + 64] for i in range(0, len(line), 64)]
rounds = 2000
t0 = time.ticks_us()
for r in range(rounds):
    for c in chunks:
        f.feed(c, len(c), r)
dt = time.ticks_diff(time.ticks_us(), t0)
assert len(codes) == rounds
print("code length %d bytes: %.1f us per code, %.3f us per byte (unix port)" % (
    len(line), dt / rounds, dt / rounds / len(line)))
"""


def main() -> None:
    res = run_micropython(SCRIPT)
    sys.stdout.write(res.stdout.decode())
    sys.stderr.write(res.stderr.decode())


if __name__ == "__main__":
    main()
