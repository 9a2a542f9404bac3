"""bench/bench_ota_campaign.py at toy scale, so it does not rot (no timing
asserted: the numbers are in docs/benchmarks.md)."""

from __future__ import annotations

import re
import subprocess
import sys

from mpy import REPO


def test_ota_campaign_bench_at_toy_scale():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "bench_ota_campaign.py"), "--devices", "20",
                        "--payload", "5000", "--tick", "0.2", "--timeout", "120"],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr[-3000:]}"
    assert re.search(r"\bstate=done done=20 ", r.stdout)
    assert re.search(r"\brefused=0 engine_errors=0\b", r.stdout)
