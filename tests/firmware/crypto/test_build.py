"""Every crypto/ file compiles for the ESP32; generated files are current."""

import subprocess
import sys

import pytest

from mpy import FIRMWARE, MPY_CROSS, REPO

CRYPTO_FILES = sorted((FIRMWARE / "crypto").glob("*.py"))


@pytest.mark.parametrize("path", CRYPTO_FILES, ids=lambda p: p.name)
def test_mpy_cross_xtensawin(path, tmp_path):
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run([MPY_CROSS, "-march=xtensawin", str(path), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize("generator,target", [
    ("gen_sha512_viper.py", "_sha512_viper.py"),
    ("gen_ed25519_base.py", "_ed25519_base.py"),
])
def test_generated_file_is_current(generator, target):
    proc = subprocess.run([sys.executable, str(REPO / "bench" / generator)],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == (FIRMWARE / "crypto" / target).read_text()


def test_compiled_mpy_gives_the_same_verdicts(tmp_path):
    """The device runs .mpy files (big-int const() folding, viper machine
    code): compile crypto/ for this machine's arch and rerun Wycheproof."""
    import json

    from crypto_harness import DRIVER
    from mpy import TESTDATA, native_march, run_micropython

    march = native_march()  # x64, or x86 under the 32-bit build (--mpy32)
    if march is None:
        pytest.skip("no mpy-cross arch for this interpreter")
    (tmp_path / "crypto").mkdir()
    for src in CRYPTO_FILES:
        subprocess.run([MPY_CROSS, "-march=" + march, str(src), "-o", str(tmp_path / "crypto" / (src.stem + ".mpy"))],
                       check=True)
    data = json.loads((TESTDATA / "wycheproof" / "ed25519_test.json").read_text())
    reqs = [{"op": "ver_many", "pk": g["publicKey"]["pk"], "cases": [[t["sig"], t["msg"]] for t in g["tests"]]}
            for g in data["testGroups"]]
    reqs.append({"op": "sha", "d": (b"abc" * 100).hex()})
    reqs.append({"op": "impl"})
    proc = run_micropython(DRIVER, stdin="".join(json.dumps(r) + "\n" for r in reqs), extra_path=[tmp_path])
    assert proc.returncode == 0, proc.stderr.decode()
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    for g, ans in zip(data["testGroups"], answers):
        want = [t["result"] == "valid" for t in g["tests"]]
        assert ans["vp"] == want and ans["v"] == want
    import hashlib

    assert answers[-2]["h"] == hashlib.sha512(b"abc" * 100).hexdigest()
    assert answers[-1]["sha"] == "viper"
    assert answers[-1]["files"] == [str(tmp_path / "crypto" / "ed25519.mpy"), str(tmp_path / "crypto" / "sha512.mpy")]



HOT = """
import crypto.ed25519 as e
print(e._P_INIT == e._ops(e._SET, e._X, 0, 0, e._SET, e._Y, 1, 0, e._SET, e._Z, 1, 0,
                          e._SET, e._E, 0, 0, e._SET, e._H, 0, 0) + e._END)
print(e._P_DBL4 == e._dbl() * 4 + e._END)
print(e._P_ADD == (e._add(0, False), e._add(1, False)))
print(e._P_ENCODE == e._pow(e._Z, e._T, False) + e._ops(
    e._MUL, e._X, e._X, e._T, e._MUL, e._Y, e._Y, e._T, e._PACK, 0, e._Y, 0, e._PACK, 1, e._X, 0) + e._END)
"""


def test_hot_programs_are_current():
    # crypto/ed25519.py keeps its hot programs as bytes literals (in flash
    # when frozen); they must be what the builders beside them make. Under
    # CPython (tests/shim): there the const() names exist at run time.
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "shim"), str(FIRMWARE)]))
    r = subprocess.run([sys.executable, "-c", HOT], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True"] * 4
