"""SHA-512 (FIPS 180-4) for the device.

MicroPython's hashlib has no sha512 on any port, and Ed25519 needs it, so the
firmware carries its own (see docs/crypto.md). Under MicroPython the block
function is viper code on 32-bit halves (crypto/_sha512_viper.py): identical
results on the 32-bit ESP32 and the 64-bit unix port. Elsewhere (CPython with
tests/shim) a plain-Python block function on 64-bit ints is used; tests run
both under MicroPython.

    sha512(data) -> 64 bytes
    h = SHA512(); h.update(a); h.update(b); h.digest()
"""

import sys
from array import array

# Round constants and initial state as 32-bit halves (hi, lo, hi, lo, ...):
# 32-bit words fit array('I') on every port.
_K = array("I", (
    0x428A2F98, 0xD728AE22, 0x71374491, 0x23EF65CD, 0xB5C0FBCF, 0xEC4D3B2F, 0xE9B5DBA5, 0x8189DBBC,
    0x3956C25B, 0xF348B538, 0x59F111F1, 0xB605D019, 0x923F82A4, 0xAF194F9B, 0xAB1C5ED5, 0xDA6D8118,
    0xD807AA98, 0xA3030242, 0x12835B01, 0x45706FBE, 0x243185BE, 0x4EE4B28C, 0x550C7DC3, 0xD5FFB4E2,
    0x72BE5D74, 0xF27B896F, 0x80DEB1FE, 0x3B1696B1, 0x9BDC06A7, 0x25C71235, 0xC19BF174, 0xCF692694,
    0xE49B69C1, 0x9EF14AD2, 0xEFBE4786, 0x384F25E3, 0x0FC19DC6, 0x8B8CD5B5, 0x240CA1CC, 0x77AC9C65,
    0x2DE92C6F, 0x592B0275, 0x4A7484AA, 0x6EA6E483, 0x5CB0A9DC, 0xBD41FBD4, 0x76F988DA, 0x831153B5,
    0x983E5152, 0xEE66DFAB, 0xA831C66D, 0x2DB43210, 0xB00327C8, 0x98FB213F, 0xBF597FC7, 0xBEEF0EE4,
    0xC6E00BF3, 0x3DA88FC2, 0xD5A79147, 0x930AA725, 0x06CA6351, 0xE003826F, 0x14292967, 0x0A0E6E70,
    0x27B70A85, 0x46D22FFC, 0x2E1B2138, 0x5C26C926, 0x4D2C6DFC, 0x5AC42AED, 0x53380D13, 0x9D95B3DF,
    0x650A7354, 0x8BAF63DE, 0x766A0ABB, 0x3C77B2A8, 0x81C2C92E, 0x47EDAEE6, 0x92722C85, 0x1482353B,
    0xA2BFE8A1, 0x4CF10364, 0xA81A664B, 0xBC423001, 0xC24B8B70, 0xD0F89791, 0xC76C51A3, 0x0654BE30,
    0xD192E819, 0xD6EF5218, 0xD6990624, 0x5565A910, 0xF40E3585, 0x5771202A, 0x106AA070, 0x32BBD1B8,
    0x19A4C116, 0xB8D2D0C8, 0x1E376C08, 0x5141AB53, 0x2748774C, 0xDF8EEB99, 0x34B0BCB5, 0xE19B48A8,
    0x391C0CB3, 0xC5C95A63, 0x4ED8AA4A, 0xE3418ACB, 0x5B9CCA4F, 0x7763E373, 0x682E6FF3, 0xD6B2B8A3,
    0x748F82EE, 0x5DEFB2FC, 0x78A5636F, 0x43172F60, 0x84C87814, 0xA1F0AB72, 0x8CC70208, 0x1A6439EC,
    0x90BEFFFA, 0x23631E28, 0xA4506CEB, 0xDE82BDE9, 0xBEF9A3F7, 0xB2C67915, 0xC67178F2, 0xE372532B,
    0xCA273ECE, 0xEA26619C, 0xD186B8C7, 0x21C0C207, 0xEADA7DD6, 0xCDE0EB1E, 0xF57D4F7F, 0xEE6ED178,
    0x06F067AA, 0x72176FBA, 0x0A637DC5, 0xA2C898A6, 0x113F9804, 0xBEF90DAE, 0x1B710B35, 0x131C471B,
    0x28DB77F5, 0x23047D84, 0x32CAAB7B, 0x40C72493, 0x3C9EBE0A, 0x15C9BEBC, 0x431D67C4, 0x9C100D4C,
    0x4CC5D4BE, 0xCB3E42B6, 0x597F299C, 0xFC657E2A, 0x5FCB6FAB, 0x3AD6FAEC, 0x6C44198C, 0x4A475817,
))

_IV = (
    0x6A09E667, 0xF3BCC908, 0xBB67AE85, 0x84CAA73B, 0x3C6EF372, 0xFE94F82B, 0xA54FF53A, 0x5F1D36F1,
    0x510E527F, 0xADE682D1, 0x9B05688C, 0x2B3E6C1F, 0x1F83D9AB, 0xFB41BD6B, 0x5BE0CD19, 0x137E2179,
)

_M64 = 0xFFFFFFFFFFFFFFFF


def _r(x, n):
    return ((x >> n) | (x << (64 - n))) & _M64


def compress_py(state, w, k, block, off):
    """Plain-Python block function on 64-bit ints (CPython, and tests)."""
    W = [0] * 80
    for i in range(16):
        j = off + 8 * i
        W[i] = int.from_bytes(block[j:j + 8], "big")
    for i in range(16, 80):
        a = W[i - 15]
        b = W[i - 2]
        s0 = _r(a, 1) ^ _r(a, 8) ^ (a >> 7)
        s1 = _r(b, 19) ^ _r(b, 61) ^ (b >> 6)
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) & _M64
    H = [(state[2 * i] << 32) | state[2 * i + 1] for i in range(8)]
    a, b, c, d, e, f, g, h = H
    for i in range(80):
        t1 = (h + (_r(e, 14) ^ _r(e, 18) ^ _r(e, 41)) + (g ^ (e & (f ^ g)))
              + ((k[2 * i] << 32) | k[2 * i + 1]) + W[i])
        t2 = (_r(a, 28) ^ _r(a, 34) ^ _r(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))
        h = g
        g = f
        f = e
        e = (d + t1) & _M64
        d = c
        c = b
        b = a
        a = (t1 + t2) & _M64
    for i, v in enumerate((a, b, c, d, e, f, g, h)):
        v = (H[i] + v) & _M64
        state[2 * i] = v >> 32
        state[2 * i + 1] = v & 0xFFFFFFFF


if sys.implementation.name == "micropython":
    from crypto._sha512_viper import compress
else:
    compress = compress_py


class SHA512:
    """Incremental SHA-512: update() any number of times, then digest()."""

    def __init__(self, data=None, compress_fn=None):
        self._state = array("I", _IV)
        self._w = array("I", bytes(640))  # message schedule, 80 x (hi, lo)
        self._buf = bytearray(128)
        self._n = 0  # bytes buffered
        self._total = 0
        self._compress = compress_fn or compress
        if data is not None:
            self.update(data)

    def update(self, data):
        mv = memoryview(data)
        size = len(mv)
        self._total += size
        pos = 0
        if self._n:
            take = min(128 - self._n, size)
            self._buf[self._n:self._n + take] = mv[:take]
            self._n += take
            pos = take
            if self._n < 128:
                return
            self._compress(self._state, self._w, _K, self._buf, 0)
            self._n = 0
        # Whole blocks straight from the caller's buffer: no copies.
        while size - pos >= 128:
            self._compress(self._state, self._w, _K, data, pos)
            pos += 128
        if pos < size:
            self._buf[0:size - pos] = mv[pos:]
            self._n = size - pos

    def digest(self):
        """Digest of everything so far; the object stays usable."""
        state = array("I", self._state)
        buf = bytearray(self._buf)
        n = self._n
        buf[n] = 0x80
        for i in range(n + 1, 128):
            buf[i] = 0
        if n >= 112:
            self._compress(state, self._w, _K, buf, 0)
            for i in range(128):
                buf[i] = 0
        bits = self._total * 8
        for i in range(16):
            buf[127 - i] = (bits >> (8 * i)) & 0xFF
        self._compress(state, self._w, _K, buf, 0)
        out = bytearray(64)
        for i in range(16):
            v = state[i]
            out[4 * i] = v >> 24
            out[4 * i + 1] = (v >> 16) & 0xFF
            out[4 * i + 2] = (v >> 8) & 0xFF
            out[4 * i + 3] = v & 0xFF
        return bytes(out)


def sha512(data):
    return SHA512(data).digest()
