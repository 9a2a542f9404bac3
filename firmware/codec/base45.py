"""Base45 (RFC 9285), strict: the QR text layer of a GG1 pass.

b45decode(s) -> bytes    s: str or bytes-like. Rejects (DecodeError, BASE45):
                         characters outside the 45-character alphabet,
                         a dangling single character, a triplet > 65535,
                         a final pair > 255.
b45encode(b) -> str

Decoding is on the scan path, so the inner loop is a viper kernel writing
into a preallocated bytearray (exact output size is known from the length).
Under CPython (host tests) a plain-Python loop does the same work.
"""
import sys

from micropython import const

import errors
from verify import reasons

_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# Character -> value, 0xFF for "not in the alphabet" (one lookup per char);
# a bytes constant (flash when frozen), tests check it against _ALPHABET.
_REV = (
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    b"\x24\xff\xff\xff\x25\x26\xff\xff\xff\xff\x27\x28\xff\x29\x2a\x2b\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x2c\xff\xff\xff\xff\xff"
    b"\xff\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\xff\xff\xff\xff\xff"
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
)

# Kernel errors come back as -(4 * position + kind) - 1, kind being
# bad character (0), group out of range (1) or dangling character (2).
_E_CHAR = const(0)
_E_RANGE = const(1)

if sys.implementation.name == "micropython":
    import micropython

    @micropython.viper
    def _decode_into(src: ptr8, n: int, rev: ptr8, out: ptr8) -> int:
        i = 0
        o = 0
        while i + 3 <= n:
            a = rev[src[i]]
            b = rev[src[i + 1]]
            c = rev[src[i + 2]]
            if a == 0xFF:
                return -(4 * i) - 1
            if b == 0xFF:
                return -(4 * (i + 1)) - 1
            if c == 0xFF:
                return -(4 * (i + 2)) - 1
            v = a + b * 45 + c * 2025
            if v > 0xFFFF:
                return -(4 * i + 1) - 1
            out[o] = v >> 8
            out[o + 1] = v & 0xFF
            o += 2
            i += 3
        r = n - i
        if r == 2:
            a = rev[src[i]]
            b = rev[src[i + 1]]
            if a == 0xFF:
                return -(4 * i) - 1
            if b == 0xFF:
                return -(4 * (i + 1)) - 1
            v = a + b * 45
            if v > 0xFF:
                return -(4 * i + 1) - 1
            out[o] = v
            o += 1
        elif r == 1:
            if rev[src[i]] == 0xFF:
                return -(4 * i) - 1
            return -(4 * i + 2) - 1
        return o

else:

    def _decode_into(src, n, rev, out):
        i = o = 0
        while i < n:
            take = 3 if n - i >= 3 else n - i
            v = 0
            mul = 1
            for j in range(take):
                d = rev[src[i + j]]
                if d == 0xFF:
                    return -(4 * (i + j)) - 1
                v += d * mul
                mul *= 45
            if take == 1:
                return -(4 * i + 2) - 1
            if v > (0xFFFF if take == 3 else 0xFF):
                return -(4 * i + 1) - 1
            if take == 3:
                out[o] = v >> 8
                o += 1
            out[o] = v & 0xFF
            o += 1
            i += take
        return o


def b45decode(s):
    if isinstance(s, str):
        s = s.encode()  # non-ASCII becomes bytes >= 0x80: not in the alphabet
    elif not isinstance(s, (bytes, bytearray, memoryview)):
        raise errors.DecodeError(reasons.BASE45, "not text")
    n = len(s)
    out = bytearray(n // 3 * 2 + (1 if n % 3 == 2 else 0))
    got = _decode_into(s, n, _REV, out)
    if got < 0:
        code = -got - 1
        kind = code & 3
        pos = code >> 2
        if kind == _E_CHAR:
            raise errors.DecodeError(reasons.BASE45, "bad character at %d" % pos)
        if kind == _E_RANGE:
            raise errors.DecodeError(reasons.BASE45, "group out of range at %d" % pos)
        raise errors.DecodeError(reasons.BASE45, "dangling character at %d" % pos)
    return bytes(out)


def b45encode(b):
    n = len(b)
    out = bytearray((n // 2) * 3 + (n % 2) * 2)
    o = 0
    for i in range(0, n - 1, 2):
        v = (b[i] << 8) | b[i + 1]
        out[o] = _ALPHABET[v % 45]
        v //= 45
        out[o + 1] = _ALPHABET[v % 45]
        out[o + 2] = _ALPHABET[v // 45]
        o += 3
    if n % 2:
        v = b[n - 1]
        out[o] = _ALPHABET[v % 45]
        out[o + 1] = _ALPHABET[v // 45]
    return out.decode()
