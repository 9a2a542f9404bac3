"""Heap of one EU DCC check on the ESP32 stand-in (issue 13: "peak heap of a
DCC check <= 16 KB"): the firmware frozen into the 32-bit MicroPython as
tools/esp32/manifest.py freezes it for the board (bench/bench_firmware_heap.py
frozen32, built from ../shared and cached; skipped without ../shared), a
1,000-signer GGDT table on file, DccVerifier.check of an ES256, a PS256-2048,
a PS256-4096 DCC and one from an unknown signer, signature check included.
The number is the least of 3 bench/mpy_heap.headroom (the smallest free
heap a check succeeds in; the method over-counts by how its ballast lies), with the check's modules already imported (warm) and dropped
before each try as the gate does after every DCC scan (cold). This test
always uses that frozen 32-bit build (with or without --mpy32): modules run
from source leave the small holes the method counts as free heap."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mpy import REPO

HERE = Path(__file__).resolve().parent
LIMIT = 16 * 1024
KID_UNKNOWN = 7


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    sys.path.insert(0, str(REPO / "bench"))
    import mpy32
    from bench_firmware_heap import frozen32

    try:
        return frozen32(tmp_path_factory.mktemp("m32"))
    except mpy32.Missing as e:
        pytest.skip(str(e))


def test_a_dcc_check_needs_at_most_16_kb(frozen, tmp_path):
    from dcc_kit import fake_signers
    from greengate.dcc import issue, table, trustlist

    now = int(time.time())
    dscs = {"es256": issue.make_dsc(issue.ES256, "VN"), "ps2048": issue.make_dsc(issue.PS256, "VN"),
            "ps4096": issue.make_dsc(issue.PS256, "VN", rsa_bits=4096)}
    signers = [trustlist.signer_from_der(d.der, d.country) for d in dscs.values()]
    signers += fake_signers(997, seed=13, rsa_every=20)
    (tmp_path / "table.bin").write_bytes(table.table_bytes(signers, 1))
    dscs["unknown"] = issue.make_dsc(issue.ES256, "VN")
    texts = {k: issue.sign_hc1(issue.dcc_payload("v", "VN", now - 3600, now + 86400, "URN:UVCI:01:VN:H" + k), d)
             for k, d in dscs.items()}
    assert len(texts["ps4096"]) > 1100  # the largest DCC a gate meets
    (tmp_path / "req.json").write_text(json.dumps({"table": str(tmp_path / "table.bin"), "now": now,
                                                   "texts": texts}))
    env = dict(os.environ, MICROPYPATH=f"{REPO / 'bench'}:.frozen")  # the firmware: frozen only
    r = subprocess.run([str(frozen), "-X", "heapsize=4m", str(HERE / "dcc_heap_driver.py"),
                        str(tmp_path / "req.json")], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.splitlines()[-1])
    print(out)  # the numbers behind docs/memory.md (pytest -s)
    # the method itself: a bare 2 KB buffer "needs" more than 2 KB (the
    # ballast's own leftovers), well under the limit
    assert 2048 < out["bytearray2048"] < LIMIT / 2, out
    for name in ("es256", "ps2048", "ps4096", "unknown"):
        m = out[name]
        assert m["reason"] == (KID_UNKNOWN if name == "unknown" else 0), (name, m)
        assert m["warm"] <= LIMIT and m["cold"] <= LIMIT, (name, m)
