"""Field arithmetic mod 2^255 - 19 in viper (crypto/_fe25519_viper.py).

Three layers:
- the generated source run under CPython with interval limbs (fe_model.py):
  for EVERY input whose limbs are in [0, 2^13], no intermediate leaves the
  signed 32-bit range (the ESP32's viper ints; the unix port's are 64-bit, so
  an overflow would pass unnoticed there) and every output limb is back in
  [0, 2^13] (the invariant all operations rely on);
- the same source run concretely under CPython against Python ints mod p;
- the real viper code under MicroPython, limb for limb against the model
  and by value against Python ints, on random and edge values.
"""

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import fe_model
from fe_model import Iv, Machine, limbs_value
from mpy import FIRMWARE, REPO, run_micropython

P = 2**255 - 19
SOURCE = FIRMWARE / "crypto" / "_fe25519_viper.py"
FE_DRIVER = Path(__file__).resolve().parent / "fe_driver.py"


def _gen():
    spec = importlib.util.spec_from_file_location("gen_fe25519_viper", REPO / "bench" / "gen_fe25519_viper.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _gen()
OPS = GEN.OPS
LMAX = GEN.LMAX
MODEL = fe_model.load_module(SOURCE)


def prog(*ops):
    return bytes(b for op in ops for b in op) + bytes([OPS["END"], 0, 0, 0])


def to_limbs(x):
    """Canonical limbs (each < 2^13) of 0 <= x < 2^260."""
    return [(x >> (13 * i)) & 0x1FFF for i in range(20)]


def test_generated_file_is_current():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gen_fe25519_viper.py")],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == SOURCE.read_text()


# --- 1. interval proof: int32 safety and the limb invariant ---------------

FULL = [Iv(0, LMAX)] * 20
BYTES = [Iv(0, 255)] * 64

SINGLE_OPS = {
    "MUL": (OPS["MUL"], 2, 0, 1),
    "MUL in place": (OPS["MUL"], 0, 0, 0),
    "SQ": (OPS["SQ"], 2, 0, 1),
    "SQ x3 (in place after the first)": (OPS["SQ"], 2, 0, 3),
    "ADD": (OPS["ADD"], 2, 0, 1),
    "SUB": (OPS["SUB"], 2, 0, 1),
    "LD": (OPS["LD"], 2, 1, 0),
    "SET": (OPS["SET"], 2, 255, 0),
}


@pytest.mark.parametrize("name", sorted(SINGLE_OPS))
def test_every_intermediate_fits_int32_for_all_inputs(name):
    """Inputs: every limb anywhere in [0, 2^13], every ext byte in [0, 255]."""
    Iv.widest = 0
    m = Machine(MODEL, 3)
    m.set_slot(0, FULL)
    m.set_slot(1, FULL)
    m.ext.items = list(BYTES)
    m.run(prog(SINGLE_OPS[name]))  # raises fe_model.Overflow past int32
    assert Iv.widest < 2**31
    out = [Iv.of(v) for v in m.slot(2 if SINGLE_OPS[name][1] == 2 else 0)]
    assert all(0 <= v.lo and v.hi <= LMAX for v in out), out


def test_pack_fits_int32_and_leaves_canonical_limbs():
    Iv.widest = 0
    m = Machine(MODEL, 1)
    m.set_slot(0, FULL)
    m.run(prog((OPS["PACK"], 1, 0, 0)))
    assert Iv.widest < 2**31
    assert all(0 <= Iv.of(v).lo and Iv.of(v).hi < 2**13 for v in m.slot(0))
    assert all(0 <= Iv.of(v).lo and Iv.of(v).hi <= 255 for v in m.ext.items[32:64])


def test_products_are_the_widest_values():
    """The bound chain in docs/crypto.md: the widest intermediate is a
    multiply's column sum, 20 * (2^13)^2 plus a carry, about 2^30.32."""
    Iv.widest = 0
    m = Machine(MODEL, 3)
    m.set_slot(0, FULL)
    m.set_slot(1, FULL)
    m.run(prog(SINGLE_OPS["MUL"]))
    assert 20 * LMAX * LMAX <= Iv.widest < 20 * LMAX * LMAX + 2**20


# --- 2. concrete runs of the same source (CPython) vs Python ints ----------

EDGE_VALUES = [0, 1, 2, 18, 19, P - 1, P, P + 1, P + 18, 2**255 - 1, 2**255, 2**256 - 1, P // 2, 2**254]


def edge_limb_vectors():
    """Limb vectors at and near the bound 2^13 (values up to ~2^260)."""
    return [
        [LMAX] * 20,
        [LMAX - 1] * 20,
        [0] * 19 + [LMAX],
        [LMAX] + [0] * 19,
        [LMAX if i % 2 else 0 for i in range(20)],
        [LMAX if i % 2 == 0 else LMAX - 1 for i in range(20)],
        [0] * 20,
        to_limbs(P),
        to_limbs(P - 1),
        to_limbs(2 * P),
    ]


def random_limbs(rng):
    kind = rng.random()
    if kind < 0.3:
        return [rng.choice((0, 1, LMAX - 1, LMAX)) for _ in range(20)]
    if kind < 0.6:
        return to_limbs(rng.choice(EDGE_VALUES) % 2**260)
    return [rng.randint(0, LMAX) for _ in range(20)]


def expected(op, x, y, n=1):
    if op == "MUL":
        return x * y % P
    if op == "SQ":
        return pow(x, 2**n, P)
    if op == "ADD":
        return (x + y) % P
    return (x - y) % P


CONCRETE = [("MUL", 1), ("SQ", 1), ("SQ", 4), ("ADD", 1), ("SUB", 1)]


def concrete_cases(rng, count):
    vecs = edge_limb_vectors()
    pairs = [(a, b) for a in vecs for b in vecs[:4]]
    pairs += [(random_limbs(rng), random_limbs(rng)) for _ in range(count)]
    return pairs


def test_model_concrete_matches_python_ints():
    rng = random.Random(25519)
    for xa, xb in concrete_cases(rng, 150):
        x, y = limbs_value(xa), limbs_value(xb)
        for op, n in CONCRETE:
            m = Machine(MODEL, 3)
            m.set_slot(0, xa)
            m.set_slot(1, xb)
            m.run(prog((OPS[op], 2, 0, 1 if op != "SQ" else n), (OPS["PACK"], 0, 2, 0)))
            out = m.slot(2)
            assert all(0 <= v <= LMAX for v in out), (op, xa, xb)
            want = expected(op, x, y, n)
            assert limbs_value(out) % P == want, (op, xa, xb)
            assert bytes(m.ext.items[:32]) == want.to_bytes(32, "little")


def test_model_load_and_pack_edge_values():
    for v in EDGE_VALUES:
        m = Machine(MODEL, 1)
        m.ext.items = list(v.to_bytes(32, "little")) + [0] * 32
        m.run(prog((OPS["LD"], 0, 0, 0)))
        assert limbs_value(m.slot(0)) == v
        m.run(prog((OPS["PACK"], 1, 0, 0)))
        assert bytes(m.ext.items[32:64]) == (v % P).to_bytes(32, "little")
        assert limbs_value(m.slot(0)) == v % P  # PACK leaves the slot reduced


# --- 3. the real viper code under MicroPython -------------------------------


def run_driver(reqs):
    stdin = "".join(json.dumps(r) + "\n" for r in reqs)
    proc = run_micropython(FE_DRIVER, stdin=stdin, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == len(reqs), proc.stderr.decode()[-2000:]
    for a in answers:
        assert "err" not in a, a
    return answers


def programs():
    """(name, program, slots that must hold results) over slots 0..3; 0 and
    1 are inputs, aliasing included (out = in, squaring in place)."""
    out = []
    for op, n in CONCRETE:
        out.append((f"{op}{n}", prog((OPS[op], 2, 0, 1 if op != "SQ" else n))))
    out += [
        ("MUL aliased", prog((OPS["MUL"], 0, 0, 1))),
        ("MUL square", prog((OPS["MUL"], 1, 0, 0))),
        ("SUB aliased b", prog((OPS["SUB"], 1, 0, 1))),
        ("ADD doubled in place", prog((OPS["ADD"], 0, 0, 0))),
        ("SQ in place", prog((OPS["SQ"], 0, 0, 3))),
        ("chain", prog((OPS["MUL"], 2, 0, 1), (OPS["SUB"], 3, 2, 0), (OPS["SQ"], 3, 3, 2),
                       (OPS["ADD"], 2, 3, 1), (OPS["MUL"], 2, 2, 3))),
        ("pack both", prog((OPS["PACK"], 0, 0, 0), (OPS["PACK"], 1, 1, 0))),
        ("load", prog((OPS["LD"], 2, 0, 0), (OPS["LD"], 3, 1, 0))),
        ("set", prog((OPS["SET"], 2, 7, 0), (OPS["SET"], 3, 0, 0))),
    ]
    return out


def model_run(init, program, ext, off=0):
    m = Machine(MODEL, 4, len(ext))
    for s, limbs in init:
        m.set_slot(s, limbs)
    m.ext.items = list(ext)
    m.run(program, off)
    return [m.slot(s) for s in range(4)], bytes(m.ext.items)


def test_viper_matches_model_and_python_ints():
    rng = random.Random(608)
    cases = []
    for xa, xb in concrete_cases(rng, 60):
        ext = bytearray(rng.getrandbits(8) for _ in range(64))
        if rng.random() < 0.5:
            ext[0:32] = rng.choice(EDGE_VALUES).to_bytes(32, "little")
        for name, program in programs():
            cases.append((name, [[0, xa], [1, xb]], program, bytes(ext)))
    reqs = [{"op": "run", "n": 4, "init": init, "prog": program.hex(), "ext": ext.hex()}
            for _, init, program, ext in cases]
    answers = run_driver(reqs)
    for (name, init, program, ext), ans in zip(cases, answers):
        slots, ext_out = model_run(init, program, ext)
        assert ans["slots"] == slots, name  # limb for limb: same code, no overflow
        assert bytes.fromhex(ans["ext"]) == ext_out, name
        for limbs in ans["slots"]:
            assert all(0 <= v <= LMAX for v in limbs), (name, limbs)
        x, y = limbs_value(init[0][1]), limbs_value(init[1][1])
        s = [limbs_value(limbs) % P for limbs in ans["slots"]]
        if name in ("MUL1", "SQ1", "SQ4", "ADD1", "SUB1"):
            op, n = name[:-1], int(name[-1])
            assert s[2] == expected(op, x, y, n), name
        elif name == "MUL aliased":
            assert s[0] == x * y % P
        elif name == "MUL square":
            assert s[1] == x * x % P
        elif name == "SUB aliased b":
            assert s[1] == (x - y) % P
        elif name == "ADD doubled in place":
            assert s[0] == 2 * x % P
        elif name == "SQ in place":
            assert s[0] == pow(x, 8, P)
        elif name == "chain":
            t = pow((x * y - x) % P, 4, P)
            assert s[3] == t and s[2] == (t + y) * t % P
        elif name == "pack both":
            assert ext_out[:64] == (x % P).to_bytes(32, "little") + (y % P).to_bytes(32, "little")
            assert ans["slots"][0] == to_limbs(x % P) and ans["slots"][1] == to_limbs(y % P)
        elif name == "load":
            assert limbs_value(ans["slots"][2]) == int.from_bytes(ext[:32], "little")
            assert limbs_value(ans["slots"][3]) == int.from_bytes(ext[32:64], "little")
        elif name == "set":
            assert ans["slots"][2] == [7] + [0] * 19 and ans["slots"][3] == [0] * 20


def test_load_uses_offset_and_chunk():
    ext = bytes(range(200))
    program = prog((OPS["LD"], 0, 2, 0), (OPS["PACK"], 1, 0, 0))
    ans = run_driver([{"op": "run", "n": 4, "init": [], "prog": program.hex(), "ext": ext.hex(), "off": 40}])[0]
    v = int.from_bytes(ext[104:136], "little")
    assert limbs_value(ans["slots"][0]) == v % P
    assert bytes.fromhex(ans["ext"])[72:104] == (v % P).to_bytes(32, "little")


def test_recode_signed_digits():
    rng = random.Random(16)
    L = 2**252 + 27742317777372353535851937790883648493
    scalars = [0, 1, 7, 8, 15, 16, L - 1, 2**253 - 1, 0x0888888888888888888888888888888888888888888888888888888888888888]
    scalars += [rng.randrange(L) for _ in range(200)]
    answers = run_driver([{"op": "recode", "s": s.to_bytes(32, "little").hex()} for s in scalars])
    sys.path.insert(0, str(FIRMWARE))
    try:
        from crypto import _fe25519_py
    finally:
        sys.path.remove(str(FIRMWARE))
    for s, ans in zip(scalars, answers):
        d = ans["d"]
        assert all(-8 <= x < 8 for x in d) and sum(x << (4 * i) for i, x in enumerate(d)) == s
        py = [0] * 64
        _fe25519_py.recode(py, s.to_bytes(32, "little"))
        assert py == d


def test_ed25519_uses_the_viper_field_code():
    assert run_driver([{"op": "impl"}])[0]["run"] == "viper"
