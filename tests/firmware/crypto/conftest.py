"""Fixtures for crypto/ tests: the driver under MicroPython and CPython.

`crypto_run(requests) -> answers` is parametrized over both interpreters; the
CPython run puts tests/shim (stand-in `micropython` module) and firmware/ on
the path, so the pure-Python fallbacks are exercised there.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crypto_harness import run_driver  # noqa: E402


@pytest.fixture(params=["micropython", "cpython"])
def crypto_run(request):
    interp = request.param
    return lambda reqs: run_driver(interp, reqs)


@pytest.fixture
def mpy_run():
    return lambda reqs: run_driver("micropython", reqs)
