"""Fixtures for the decoding-layer tests: one MicroPython process per batch.

`codec_run(requests)` sends JSON requests to driver_codec.py (real
MicroPython, firmware tree on MICROPYPATH) and returns the answers in order.
`to_model(value)` turns a host value (JSON-decoded or cbor2-decoded) into the
same model the driver returns for device values.
"""
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mpy import FIRMWARE, REPO, run_micropython

DRIVER = Path(__file__).resolve().parent / "driver_codec.py"


def _requests(requests):
    lines = []
    for i, q in enumerate(requests):
        q = dict(q)
        q["id"] = i
        lines.append(json.dumps(q, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _answers(proc, requests):
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == len(requests), (
        "driver answered %d of %d requests; stderr:\n%s"
        % (len(out), len(requests), proc.stderr.decode()[-3000:])
    )
    for i, o in enumerate(out):
        assert o["id"] == i
    return out


def _run(requests, heap="4m", timeout=300):
    proc = run_micropython(DRIVER, stdin=_requests(requests), heap=heap, timeout=timeout)
    return _answers(proc, requests)


def _run_cpython(requests, timeout=300):
    """The same driver under CPython (tests/shim stands in for `micropython`):
    shows the firmware modules' CPython paths (zlib fallback...) agree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FIRMWARE), str(REPO / "tests" / "shim")])
    proc = subprocess.run([sys.executable, str(DRIVER)], input=_requests(requests).encode(),
                          capture_output=True, timeout=timeout, env=env)
    return _answers(proc, requests)


def to_model(v):
    """Host value -> the driver's model (see driver_codec.model)."""
    import cbor2

    if v is True or v is False:
        return ["bool", v]
    if v is None:
        return ["null"]
    if v is cbor2.undefined:
        return ["undefined"]
    if isinstance(v, int):
        return ["int", str(v)]
    if isinstance(v, (bytes, bytearray)):
        return ["bytes", bytes(v).hex()]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, float):
        if math.isnan(v):
            return ["float", "nan"]
        return ["float", struct.pack(">d", v).hex()]
    if isinstance(v, (list, tuple)):
        return ["list", [to_model(x) for x in v]]
    if isinstance(v, (dict, cbor2.frozendict)):
        return ["map", [[to_model(k), to_model(x)] for k, x in v.items()]]
    if isinstance(v, cbor2.CBORTag):
        return ["tag", v.tag, to_model(v.value)]
    if isinstance(v, cbor2.CBORSimpleValue):
        return ["simple", v.value]
    raise TypeError(type(v))


def canon(m):
    """Order-insensitive form of a model (maps compared as sets of pairs)."""
    kind = m[0]
    if kind == "list":
        return ["list", [canon(x) for x in m[1]]]
    if kind == "map":
        pairs = [[canon(k), canon(v)] for k, v in m[1]]
        pairs.sort(key=lambda p: json.dumps(p[0]))
        return ["map", pairs]
    if kind == "tag":
        return ["tag", m[1], canon(m[2])]
    return m


@pytest.fixture(scope="session")
def codec_run():
    return _run


@pytest.fixture(scope="session")
def cpython_run():
    return _run_cpython


@pytest.fixture(scope="session")
def model_of():
    return lambda v: canon(to_model(v))


@pytest.fixture(scope="session")
def raw_model():
    return to_model


@pytest.fixture(scope="session")
def canonical():
    return canon
