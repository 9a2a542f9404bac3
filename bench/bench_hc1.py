"""Median decode time of verify/hc1.py over the EU DCC corpus (unix port).

    python3 bench/bench_hc1.py [--runs N]

Reads every PREFIX text of tests/vectors/eu-dcc, runs firmware/verify/hc1.py
(source, as the tests do) under `micropython -X heapsize=256k`, times
hc1.decode() of each text N times (time.ticks_us), and prints the median
over the corpus of each text's median, plus min and max.
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

DEVICE = """
import sys, time, gc
from verify import hc1
runs = %d
meds = []
while True:
    t = sys.stdin.readline().strip()
    if not t:
        break
    xs = []
    for _ in range(runs):
        gc.collect()
        t0 = time.ticks_us()
        hc1.decode(t)
        xs.append(time.ticks_diff(time.ticks_us(), t0))
    xs.sort()
    meds.append(xs[len(xs) // 2])
meds.sort()
print(len(meds), meds[len(meds) // 2], meds[0], meds[-1])
"""


def main():
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 5
    from mpy import run_micropython

    texts = [json.loads(f.read_text())["PREFIX"] for f in sorted((REPO / "tests/vectors/eu-dcc").rglob("*.json"))]
    p = run_micropython(DEVICE % runs, stdin="".join(t + "\n" for t in texts), heap="256k")
    if p.returncode:
        sys.exit((p.stdout + p.stderr).decode()[-2000:])
    n, med, lo, hi = p.stdout.decode().split()
    print("hc1.decode over %s corpus texts (median of %d runs each): median %s us, min %s, max %s"
          % (n, runs, med, lo, hi))


if __name__ == "__main__":
    main()
