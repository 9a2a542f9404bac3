"""Field arithmetic mod the P-256 prime in viper (crypto/_fe256_viper.py).

- the generated source run under CPython with interval limbs (fe_model.py,
  with signed masking added here: the reduction masks negative limbs): for
  EVERY input whose limbs are in [0, 2^13 + 2^9], no intermediate leaves the
  signed 32-bit range of the ESP32's viper ints (the unix port's are 64-bit,
  an overflow would pass unnoticed there) and every output limb is back in
  [0, 2^13 + 2^9], the invariant every operation relies on;
- the same source run concretely under CPython against Python ints mod p;
- the real viper code under MicroPython (64-bit here, 32-bit with --mpy32),
  limb for limb against the model and by value against Python ints, on
  random values and edges (0, 1, p - 1, p, p + 1, 2p, 2^256 - 1, limbs all
  2^13 + 2^9, all 2^13 - 1, ...);
- p256's point programs (u1*G + u2*Q, Straus and comb) against Python ints.
"""

import random
import subprocess
import sys
from pathlib import Path

import pytest

import fe_model
from crypto_harness import run_driver
from fe_model import Iv, Machine
from mpy import FIRMWARE, REPO

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
SOURCE = FIRMWARE / "crypto" / "_fe256_viper.py"
DRIVER = Path(__file__).resolve().parent / "p256_field_driver.py"
LMAX = (1 << 13) + (1 << 9)  # the limb invariant: every limb in [0, LMAX]


# the opcodes of the generated module's docstring (bench/gen_p256_base.py F_OPS)
OPS = {"MUL": 0, "SQ": 1, "ADD": 2, "SUB": 3, "LD": 4, "PACK": 5, "SET": 6, "SMUL": 7, "LOOP": 8,
       "LIN": 16, "END": 255}


def lin(ka, kb):
    """The opcode of d = ka * a - kb * b."""
    return OPS["LIN"] + 8 * (ka - 1) + (kb - 1)



class SIv(Iv):
    """fe_model's interval with two's-complement masking: `x & m` for an
    all-ones constant m is in [0, m] whatever the sign of x (the reduction
    masks negative limbs; viper's & and >> are two's complement on 32 and 64
    bits alike, and >> is arithmetic)."""

    def __and__(self, other):
        o = Iv.of(other)
        if self.lo < 0 and o.exact and o.lo >= 0 and o.lo & (o.lo + 1) == 0:
            return SIv(0, o.lo)
        return _s(Iv.__and__(self, other))

    __rand__ = __and__


def _s(r):
    return SIv(r.lo, r.hi) if isinstance(r, Iv) and not isinstance(r, SIv) else r


for _name in ("__add__", "__radd__", "__sub__", "__mul__", "__rmul__", "__rshift__",
              "__lshift__", "__or__", "__ror__"):
    setattr(SIv, _name, (lambda f: lambda self, *a: _s(f(self, *a)))(getattr(Iv, _name)))
# int - SIv: Iv.__rsub__ would go through the operator again and Python tries
# a subclass's reflected method first, so call __sub__ directly
SIv.__rsub__ = lambda self, other: _s(Iv.__sub__(Iv.of(other), self))

MODEL = fe_model.load_module(SOURCE)


def prog(*ops):
    return bytes(b for op in ops for b in op) + bytes([OPS["END"], 0, 0, 0])


def to_limbs(x):
    """Limbs of 0 <= x < 2^260 (each < 2^13)."""
    return [(x >> (13 * i)) & 0x1FFF for i in range(20)]


def value(limbs):
    return sum(int(v) << (13 * i) for i, v in enumerate(limbs))


def test_generated_file_is_current():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gen_p256_base.py"), "field"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == SOURCE.read_text()


# --- 1. interval proof ---------------------------------------------------

FULL = [SIv(0, LMAX)] * 20
BYTES = [SIv(0, 255)] * 64

SINGLE_OPS = {
    "MUL": (OPS["MUL"], 2, 0, 1),
    "MUL in place": (OPS["MUL"], 0, 0, 0),
    "SQ": (OPS["SQ"], 2, 0, 1),
    "SQ x3 (in place after the first)": (OPS["SQ"], 2, 0, 3),
    "ADD": (OPS["ADD"], 2, 0, 1),
    "SUB": (OPS["SUB"], 2, 0, 1),
    "SMUL 255": (OPS["SMUL"], 2, 0, 255),
    "LIN 8a - 8b": (lin(8, 8), 2, 0, 1),
    "LIN 1a - 8b": (lin(1, 8), 2, 0, 1),
    "LIN 8a - 1b": (lin(8, 1), 2, 0, 1),
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
    m.run(prog(SINGLE_OPS[name]))  # raises fe_model.Overflow on any excursion
    out = m.slot(2) if SINGLE_OPS[name][1] == 2 else m.slot(0)
    for limb in out:
        iv = Iv.of(limb)
        assert 0 <= iv.lo and iv.hi <= LMAX, (name, out)
    assert Iv.widest < 2**31


def test_the_interval_check_catches_an_overflow():
    """The model must be able to fail: limbs of 2^14 overflow a MUL column."""
    m = Machine(MODEL, 3)
    m.set_slot(0, [SIv(0, 1 << 14)] * 20)
    m.set_slot(1, [SIv(0, 1 << 14)] * 20)
    with pytest.raises(fe_model.Overflow):
        m.run(prog((OPS["MUL"], 2, 0, 1)))


# --- 2. concrete values: model vs Python ints, and the real viper code --------

EDGES = [0, 1, 2, P - 1, P, P + 1, 2 * P, 2 * P - 1, 2**256 - 1, 2**255, 2**224, 2**192, 2**96 - 1,
         2**260 - 1, (LMAX << 247) + (2**247 - 1), sum(LMAX << (13 * i) for i in range(20)),
         sum(8191 << (13 * i) for i in range(19)) + (LMAX << 247),
         16 * P, 2**260 - 2**228]


def _limbs_any(x):
    """Limbs of x, the top one allowed up to 2^13 (x <= 2^260 + ...)."""
    if x == sum(LMAX << (13 * i) for i in range(20)):
        return [LMAX] * 20
    if x == (LMAX << 247) + (2**247 - 1):
        return to_limbs(2**247 - 1)[:19] + [LMAX]
    if x == sum(8191 << (13 * i) for i in range(19)) + (LMAX << 247):
        return [8191] * 19 + [LMAX]
    return to_limbs(x)


def _cases(seed, count):
    rng = random.Random(seed)
    vals = EDGES + [rng.randrange(2**260) for _ in range(count)] + [rng.randrange(P) for _ in range(count)]
    pairs = [(a, b) for a in EDGES for b in EDGES[:6]]
    pairs += [(rng.choice(vals), rng.choice(vals)) for _ in range(count)]
    return pairs


def _programs(a, b):
    """(program, ext bytes, expected slot 2 value mod p or None, expected
    packed bytes or None) for slots 0 = a, 1 = b."""
    ld = (a % 2**256).to_bytes(32, "big") + (b % 2**256).to_bytes(32, "big")
    return [
        (prog((OPS["MUL"], 2, 0, 1)), a * b),
        (prog((OPS["MUL"], 2, 0, 0)), a * a),
        (prog((OPS["SQ"], 2, 0, 1)), a * a),
        (prog((OPS["SQ"], 2, 0, 4)), pow(a, 16, P)),
        (prog((OPS["ADD"], 2, 0, 1)), a + b),
        (prog((OPS["SUB"], 2, 0, 1)), a - b),
        (prog((OPS["SUB"], 2, 1, 0)), b - a),
        (prog((OPS["SMUL"], 2, 0, 3)), 3 * a),
        (prog((OPS["SMUL"], 2, 0, 255)), 255 * a),
        (prog((lin(3, 3), 2, 0, 1)), 3 * a - 3 * b),
        (prog((lin(1, 8), 2, 0, 1)), a - 8 * b),
        (prog((lin(4, 1), 2, 1, 0)), 4 * b - a),
        (prog((lin(8, 8), 2, 0, 1)), 8 * a - 8 * b),
        (prog((OPS["MUL"], 0, 0, 1)), a * b),  # in place
        (prog((OPS["LD"], 2, 1, 0)), b % 2**256, ld),
        (prog((OPS["MUL"], 2, 0, 1), (OPS["PACK"], 0, 2, 0)), a * b),
        (prog((OPS["PACK"], 1, 0, 0)), a),
    ]


def _check_model(a, b):
    out = []
    for item in _programs(a, b):
        p, want = item[0], item[1]
        ext = item[2] if len(item) > 2 else bytes(64)
        m = Machine(MODEL, 3)
        m.set_slot(0, _limbs_any(a))
        m.set_slot(1, _limbs_any(b))
        m.ext.items = list(ext)
        m.run(p)
        dst = p[1]
        slots = [[int(v) for v in m.slot(s)] for s in range(3)]
        for limbs in slots:
            assert all(0 <= v <= LMAX for v in limbs), (p.hex(), limbs)
        got = value(slots[dst]) if p[0] != OPS["PACK"] else None
        if got is not None:
            assert got % P == want % P, (p.hex(), hex(a), hex(b))
        packed = bytes(m.ext.items)
        if OPS["PACK"] in p[::4]:
            k = p[p[::4].index(OPS["PACK"]) * 4 + 1]
            assert packed[32 * k:32 * k + 32] == (want % P).to_bytes(32, "big"), (p.hex(), hex(a), hex(b))
        out.append((p, ext, slots, packed))
    return out


def test_model_against_python_ints():
    for a, b in _cases(1, 60):
        _check_model(a, b)


def test_viper_code_limb_for_limb():
    """The real viper code (this interpreter: 64-bit, or 32-bit with
    --mpy32) equals the model limb for limb, so it also equals Python ints."""
    reqs, want = [], []
    for a, b in _cases(2, 40):
        for p, ext, slots, packed in _check_model(a, b):
            reqs.append({"op": "run", "n": 3, "init": [[0, _limbs_any(a)], [1, _limbs_any(b)]],
                         "prog": p.hex(), "ext": ext.hex(), "off": 0})
            want.append((slots, packed.hex()))
    reqs.append({"op": "impl"})
    answers = run_driver("micropython", reqs, DRIVER)
    assert answers[-1] == {"run": "viper"}  # p256 uses the viper code under MicroPython
    for req, ans, (slots, packed) in zip(reqs, answers, want):
        assert ans["slots"] == slots, req
        assert ans["ext"] == packed, req


def test_loop_repeats_a_program():
    """LOOP runs the program `off` times (the doubling count)."""
    a = 0x1234567890ABCDEF << 100
    m = Machine(MODEL, 3)
    m.set_slot(0, to_limbs(a))
    m.run(prog((OPS["ADD"], 0, 0, 0), (OPS["LOOP"], 0, 0, 0)), off=5)
    assert value(m.slot(0)) % P == (a << 5) % P


# --- 3. the point programs: u1*G + u2*Q ---------------------------------------

def _affine_add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = 3 * (x1 * x1 - 1) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def _mul(k, pt):
    acc = None
    while k:
        if k & 1:
            acc = _affine_add(acc, pt)
        pt = _affine_add(pt, pt)
        k >>= 1
    return acc


@pytest.mark.parametrize("prepared", [False, True], ids=["straus", "comb"])
def test_double_scalar_multiplication(prepared):
    rng = random.Random(5 + prepared)
    reqs, want = [], []
    for i in range(12):
        q = _mul(rng.randrange(1, N), (GX, GY))
        pk = "04%064x%064x" % q
        for u1, u2 in [(rng.randrange(N), rng.randrange(1, N)), (0, 1), (1, 1), (N - 1, N - 1),
                       (rng.randrange(2**32), rng.randrange(2**250, N))][: 5 if i < 2 else 1]:
            reqs.append({"op": "mul2", "u1": "%x" % u1, "u2": "%x" % u2, "pk": pk, "prepared": prepared})
            want.append(_affine_add(_mul(u1, (GX, GY)), _mul(u2, q)))
    # key G, u1 = u2 = 1: the first two digits add G to G (P + P) and with
    # key -G, G to -G: the programs must flag both with Z = 0 (p256 then
    # recomputes exactly: test_p256.py, exceptional additions)
    for y in (GY, P - GY):
        reqs.append({"op": "mul2", "u1": "1", "u2": "1", "pk": "04%064x%064x" % (GX, y), "prepared": prepared})
        want.append(None)
    answers = run_driver("micropython", reqs, DRIVER)
    for req, ans, r in zip(reqs, answers, want):
        x, z = int(ans["x"], 16), int(ans["z"], 16)
        if r is None:
            assert z == 0, req
        else:
            assert z != 0 and x == r[0] * z * z % P, req


def _wnaf(k, w):
    """Reference width-w NAF (least significant first)."""
    out = []
    while k:
        if k & 1:
            d = k % (1 << w)
            if d >= 1 << (w - 1):
                d -= 1 << w
            k -= d
        else:
            d = 0
        out.append(d)
        k >>= 1
    return out


def test_viper_naf():
    rng = random.Random(9)
    ks = [0, 1, 2, 3, 15, 16, 31, 63, 64, 127, N - 1, N - 2, 2**255, 2**256 - 1, 2**255 - 1,
          (2**256 - 1) // 3] + [rng.randrange(2**256) >> rng.randrange(256) for _ in range(150)]
    reqs = [{"op": "naf", "k": "%x" % k, "w": w} for k in ks for w in (4, 5, 7)]
    answers = run_driver("micropython", reqs, DRIVER)
    for req, ans in zip(reqs, answers):
        want = _wnaf(int(req["k"], 16), req["w"])
        assert ans["last"] == len(want), req
        assert ans["d"] == want + [0] * (258 - len(want)), req
        half = 1 << (req["w"] - 1)
        assert all(d == 0 or (d % 2 and -half < d < half) for d in ans["d"])
