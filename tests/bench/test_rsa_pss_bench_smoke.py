"""bench/bench_rsa_pss.py at 3 runs, so it doesn't rot (numbers belong in
docs/benchmarks.md; nothing about timing is asserted)."""

import subprocess
import sys

from mpy import REPO


def test_rsa_pss_bench_runs():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "bench_rsa_pss.py"), "--runs", "3"],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    for row in ("check(), salt 32", "SALT_AUTO", "bare pow", "ESP32 estimate", "headroom", "xtensawin"):
        assert row in r.stdout, r.stdout
