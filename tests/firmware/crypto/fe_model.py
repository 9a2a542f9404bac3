"""Run the generated viper field code (crypto/_fe25519_viper.py) under CPython.

The source text of the generated module is executed as plain Python with
stand-ins for viper's pointers (`ptr32`, `ptr8`, `int(ptr)`) and with every
limb value an `Iv`: a closed interval [lo, hi] of integers. Arithmetic on
intervals over-approximates the set of values an expression can take, so a
run whose inputs are the intervals [0, LMAX] covers every input limb vector
at once; each result is checked against the signed 32-bit range of the
ESP32's viper ints (the unix port's 64-bit ints would hide an overflow), and
every store into a uint16 limb against [0, 65535].
With lo == hi the same code is an exact concrete run.

Control flow in the field code depends only on opcodes and loop counters
(plain ints); an interval reaching a comparison is an error here.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


class Overflow(AssertionError):
    pass


class Iv:
    """Integer interval [lo, hi]; every operation checks the int32 range."""

    __slots__ = ("lo", "hi")
    widest = 0  # largest magnitude seen (class-wide record)

    def __init__(self, lo: int, hi: int | None = None):
        hi = lo if hi is None else hi
        assert lo <= hi
        if lo < INT32_MIN or hi > INT32_MAX:
            raise Overflow(f"intermediate [{lo}, {hi}] leaves int32")
        Iv.widest = max(Iv.widest, -lo, hi)
        self.lo, self.hi = lo, hi

    @staticmethod
    def of(x) -> "Iv":
        return x if isinstance(x, Iv) else Iv(x)

    @property
    def exact(self) -> bool:
        return self.lo == self.hi

    def __add__(self, other):
        o = Iv.of(other)
        return Iv(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __sub__(self, other):
        o = Iv.of(other)
        return Iv(self.lo - o.hi, self.hi - o.lo)

    def __rsub__(self, other):
        return Iv.of(other) - self

    def __mul__(self, other):
        o = Iv.of(other)
        ps = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
        return Iv(min(ps), max(ps))

    __rmul__ = __mul__

    def __rshift__(self, k):
        assert isinstance(k, int)
        return Iv(self.lo >> k, self.hi >> k)

    def __lshift__(self, k):
        k = k.lo if isinstance(k, Iv) and k.exact else k
        assert isinstance(k, int) and k >= 0
        return Iv(self.lo << k, self.hi << k)

    def __and__(self, other):
        o = Iv.of(other)
        if self.exact and o.exact:
            return Iv(self.lo & o.lo)
        assert o.exact and o.lo >= 0, "mask must be a constant"
        if self.lo < 0:
            raise Overflow("masking a possibly negative value")
        m = o.lo
        if m & (m + 1) == 0 and self.hi <= m:  # all-ones mask covering the value
            return self
        return Iv(0, min(m, self.hi) if m & (m + 1) == 0 else m)

    __rand__ = __and__

    def __or__(self, other):
        o = Iv.of(other)
        if self.exact and o.exact:
            return Iv(self.lo | o.lo)
        if self.lo < 0 or o.lo < 0:
            raise Overflow("or of a possibly negative value")
        return Iv(max(self.lo, o.lo), (1 << max(self.hi, o.hi).bit_length()) - 1)

    __ror__ = __or__

    def _no_compare(self, other):
        raise TypeError("data-dependent control flow in field code")

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __bool__ = _no_compare
    __hash__ = None

    def __repr__(self):
        return f"Iv({self.lo}, {self.hi})" if not self.exact else f"Iv({self.lo})"


class Buf:
    """A buffer at a fake address; items are ints or Iv."""

    _next = 0x10000

    def __init__(self, items, size: int):
        self.items = list(items)
        self.size = size  # bytes per item (4: ptr32, 2: ptr16, 1: ptr8)
        self.base = Buf._next
        Buf._next += 0x100000
        _BUFS.append(self)


_BUFS: list[Buf] = []


class Ptr:
    def __init__(self, buf: Buf | None, index: int = 0, addr: int = 0):
        self.buf, self.index, self.addr = buf, index, addr

    def __int__(self):
        return self.buf.base + self.index * self.buf.size if self.buf else self.addr

    def _items(self, i):
        if self.buf is None or not 0 <= self.index + i < len(self.buf.items):
            raise AssertionError(f"access outside every buffer: {int(self):#x} [{i}]")
        return self.buf.items

    def __getitem__(self, i):
        return self._items(i)[self.index + i]

    def __setitem__(self, i, v):
        size = self.buf.size if self.buf is not None else 0
        if size == 1:  # ptr8 stores keep the low byte
            v = v & 0xFF
        elif size == 2:  # ptr16 (limbs): the value must fit, or it would be cut
            iv = Iv.of(v)
            if iv.lo < 0 or iv.hi > 0xFFFF:
                raise Overflow(f"store of [{iv.lo}, {iv.hi}] into a uint16 limb")
        self._items(i)[self.index + i] = v


def _ptr_factory(size: int):
    def make(addr):
        if isinstance(addr, Ptr):
            return addr
        for buf in _BUFS:
            if buf.size == size and buf.base <= addr < buf.base + len(buf.items) * size:
                off = addr - buf.base
                assert off % size == 0
                return Ptr(buf, off // size)
        return Ptr(None, addr=addr)  # an error only if it is dereferenced

    return make


def load_module(source_path: Path) -> types.SimpleNamespace:
    """Execute the generated source as Python; returns its namespace."""
    stub = types.ModuleType("micropython")
    stub.viper = stub.native = lambda f: f
    stub.const = lambda x: x
    saved = sys.modules.get("micropython")
    sys.modules["micropython"] = stub
    try:
        ns = {"ptr32": _ptr_factory(4), "ptr16": _ptr_factory(2), "ptr8": _ptr_factory(1),
              "__name__": "fe_model_generated"}
        exec(compile(source_path.read_text(), str(source_path), "exec"), ns)
    finally:
        if saved is None:
            del sys.modules["micropython"]
        else:
            sys.modules["micropython"] = saved
    return types.SimpleNamespace(**{k: v for k, v in ns.items() if not k.startswith("__")})


class Machine:
    """Slots of 20 limbs (ints or Iv) + an ext byte buffer, run by the
    generated `run` exactly as ed25519.py calls it (mem passed twice)."""

    def __init__(self, module, slots: int, ext_len: int = 64):
        self.module = module
        self.mem = Buf([0] * (20 * slots), 2)
        self.ext = Buf([0] * ext_len, 1)

    def set_slot(self, s: int, limbs):
        assert len(limbs) == 20
        self.mem.items[20 * s:20 * s + 20] = list(limbs)

    def slot(self, s: int):
        return self.mem.items[20 * s:20 * s + 20]

    def run(self, prog: bytes, off: int = 0):
        pm = Buf(prog, 1)
        try:
            self.module.run(Ptr(self.mem), Ptr(self.mem), Ptr(pm), Ptr(self.ext), off)
        finally:
            _BUFS.remove(pm)


def limbs_value(limbs) -> int:
    return sum(int(v.lo if isinstance(v, Iv) else v) << (13 * i) for i, v in enumerate(limbs))
