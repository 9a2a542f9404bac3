"""Fixtures for the display tests: one MicroPython process per batch.

`display_run(requests)` sends JSON requests to driver_display.py (real
MicroPython, firmware tree on MICROPYPATH) and returns the answers in order.
"""
import json
from pathlib import Path

import pytest

from mpy import run_micropython

DRIVER = Path(__file__).resolve().parent / "driver_display.py"


def run_driver(requests, timeout=300):
    lines = []
    for i, q in enumerate(requests):
        q = dict(q, id=i)
        lines.append(json.dumps(q, ensure_ascii=False))
    proc = run_micropython(DRIVER, stdin="\n".join(lines) + "\n", timeout=timeout)
    out = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert len(out) == len(requests), (
        "driver answered %d of %d requests; stderr:\n%s"
        % (len(out), len(requests), proc.stderr.decode()[-3000:]))
    for i, a in enumerate(out):
        assert a["id"] == i
        assert "error" not in a, "request %d failed: %s\n%s" % (
            i, a.get("error"), proc.stderr.decode()[-3000:])
    return out


@pytest.fixture(scope="session")
def display_run():
    return run_driver
