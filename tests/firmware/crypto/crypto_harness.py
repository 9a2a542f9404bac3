"""Host side of the crypto driver: run it under MicroPython or CPython."""

import json
import os
import subprocess
import sys
from pathlib import Path

from mpy import FIRMWARE, REPO, run_micropython

DRIVER = Path(__file__).resolve().parent / "driver.py"


def _run_cpython(stdin: str, driver: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests" / "shim"), str(FIRMWARE)])
    return subprocess.run(
        [sys.executable, str(driver)], input=stdin.encode(), capture_output=True, env=env, timeout=600
    )


def run_driver(interp: str, requests: list[dict], driver: Path = DRIVER) -> list[dict]:
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    if interp == "micropython":
        proc = run_micropython(driver, stdin=stdin, timeout=600)
    else:
        proc = _run_cpython(stdin, driver)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == len(requests), proc.stderr.decode()[-2000:]
    for req, ans in zip(requests, answers):
        assert "err" not in ans, (req, ans)
    return answers
