"""Host side of the HC1 / DCC verifier tests: run a device driver in batches."""

import json
from pathlib import Path

from mpy import run_micropython

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "dcc_driver.py"
JSONL = HERE.parent / "crypto"


def run_batches(driver, op, cases, chunk=50, heap="4m"):
    """One MicroPython process for all the cases, `chunk` per request line
    {"op": op, "cases": [...]}; the answers' "r" lists, joined."""
    reqs = [{"op": op, "cases": cases[i:i + chunk]} for i in range(0, len(cases), chunk)]
    proc = run_micropython(driver, stdin="".join(json.dumps(r) + "\n" for r in reqs),
                           extra_path=[JSONL], timeout=1800, heap=heap)
    assert proc.returncode == 0, (proc.returncode, proc.stderr.decode()[-2000:], proc.stdout[-500:])
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == len(reqs), proc.stderr.decode()[-2000:]
    out = []
    for a in answers:
        assert "err" not in a, a
        out += a["r"]
    assert len(out) == len(cases)
    return out


def device_check(cases, chunk=50, heap="4m"):
    """[[reason, pass_hash hex, [hash hex], claims]] for each case."""
    return run_batches(DRIVER, "check", cases, chunk, heap)
