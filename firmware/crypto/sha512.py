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

# Round constants: 80 big-endian 64-bit words, a bytes constant (in flash
# when frozen: no array built in RAM at import). Initial state as 32-bit
# halves (hi, lo, ...): 32-bit words fit array("I") on every port.
_K = (
    b"\x42\x8a\x2f\x98\xd7\x28\xae\x22\x71\x37\x44\x91\x23\xef\x65\xcd\xb5\xc0\xfb\xcf\xec\x4d\x3b\x2f\xe9\xb5\xdb\xa5\x81\x89\xdb\xbc"
    b"\x39\x56\xc2\x5b\xf3\x48\xb5\x38\x59\xf1\x11\xf1\xb6\x05\xd0\x19\x92\x3f\x82\xa4\xaf\x19\x4f\x9b\xab\x1c\x5e\xd5\xda\x6d\x81\x18"
    b"\xd8\x07\xaa\x98\xa3\x03\x02\x42\x12\x83\x5b\x01\x45\x70\x6f\xbe\x24\x31\x85\xbe\x4e\xe4\xb2\x8c\x55\x0c\x7d\xc3\xd5\xff\xb4\xe2"
    b"\x72\xbe\x5d\x74\xf2\x7b\x89\x6f\x80\xde\xb1\xfe\x3b\x16\x96\xb1\x9b\xdc\x06\xa7\x25\xc7\x12\x35\xc1\x9b\xf1\x74\xcf\x69\x26\x94"
    b"\xe4\x9b\x69\xc1\x9e\xf1\x4a\xd2\xef\xbe\x47\x86\x38\x4f\x25\xe3\x0f\xc1\x9d\xc6\x8b\x8c\xd5\xb5\x24\x0c\xa1\xcc\x77\xac\x9c\x65"
    b"\x2d\xe9\x2c\x6f\x59\x2b\x02\x75\x4a\x74\x84\xaa\x6e\xa6\xe4\x83\x5c\xb0\xa9\xdc\xbd\x41\xfb\xd4\x76\xf9\x88\xda\x83\x11\x53\xb5"
    b"\x98\x3e\x51\x52\xee\x66\xdf\xab\xa8\x31\xc6\x6d\x2d\xb4\x32\x10\xb0\x03\x27\xc8\x98\xfb\x21\x3f\xbf\x59\x7f\xc7\xbe\xef\x0e\xe4"
    b"\xc6\xe0\x0b\xf3\x3d\xa8\x8f\xc2\xd5\xa7\x91\x47\x93\x0a\xa7\x25\x06\xca\x63\x51\xe0\x03\x82\x6f\x14\x29\x29\x67\x0a\x0e\x6e\x70"
    b"\x27\xb7\x0a\x85\x46\xd2\x2f\xfc\x2e\x1b\x21\x38\x5c\x26\xc9\x26\x4d\x2c\x6d\xfc\x5a\xc4\x2a\xed\x53\x38\x0d\x13\x9d\x95\xb3\xdf"
    b"\x65\x0a\x73\x54\x8b\xaf\x63\xde\x76\x6a\x0a\xbb\x3c\x77\xb2\xa8\x81\xc2\xc9\x2e\x47\xed\xae\xe6\x92\x72\x2c\x85\x14\x82\x35\x3b"
    b"\xa2\xbf\xe8\xa1\x4c\xf1\x03\x64\xa8\x1a\x66\x4b\xbc\x42\x30\x01\xc2\x4b\x8b\x70\xd0\xf8\x97\x91\xc7\x6c\x51\xa3\x06\x54\xbe\x30"
    b"\xd1\x92\xe8\x19\xd6\xef\x52\x18\xd6\x99\x06\x24\x55\x65\xa9\x10\xf4\x0e\x35\x85\x57\x71\x20\x2a\x10\x6a\xa0\x70\x32\xbb\xd1\xb8"
    b"\x19\xa4\xc1\x16\xb8\xd2\xd0\xc8\x1e\x37\x6c\x08\x51\x41\xab\x53\x27\x48\x77\x4c\xdf\x8e\xeb\x99\x34\xb0\xbc\xb5\xe1\x9b\x48\xa8"
    b"\x39\x1c\x0c\xb3\xc5\xc9\x5a\x63\x4e\xd8\xaa\x4a\xe3\x41\x8a\xcb\x5b\x9c\xca\x4f\x77\x63\xe3\x73\x68\x2e\x6f\xf3\xd6\xb2\xb8\xa3"
    b"\x74\x8f\x82\xee\x5d\xef\xb2\xfc\x78\xa5\x63\x6f\x43\x17\x2f\x60\x84\xc8\x78\x14\xa1\xf0\xab\x72\x8c\xc7\x02\x08\x1a\x64\x39\xec"
    b"\x90\xbe\xff\xfa\x23\x63\x1e\x28\xa4\x50\x6c\xeb\xde\x82\xbd\xe9\xbe\xf9\xa3\xf7\xb2\xc6\x79\x15\xc6\x71\x78\xf2\xe3\x72\x53\x2b"
    b"\xca\x27\x3e\xce\xea\x26\x61\x9c\xd1\x86\xb8\xc7\x21\xc0\xc2\x07\xea\xda\x7d\xd6\xcd\xe0\xeb\x1e\xf5\x7d\x4f\x7f\xee\x6e\xd1\x78"
    b"\x06\xf0\x67\xaa\x72\x17\x6f\xba\x0a\x63\x7d\xc5\xa2\xc8\x98\xa6\x11\x3f\x98\x04\xbe\xf9\x0d\xae\x1b\x71\x0b\x35\x13\x1c\x47\x1b"
    b"\x28\xdb\x77\xf5\x23\x04\x7d\x84\x32\xca\xab\x7b\x40\xc7\x24\x93\x3c\x9e\xbe\x0a\x15\xc9\xbe\xbc\x43\x1d\x67\xc4\x9c\x10\x0d\x4c"
    b"\x4c\xc5\xd4\xbe\xcb\x3e\x42\xb6\x59\x7f\x29\x9c\xfc\x65\x7e\x2a\x5f\xcb\x6f\xab\x3a\xd6\xfa\xec\x6c\x44\x19\x8c\x4a\x47\x58\x17"
)

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
              + int.from_bytes(k[8 * i:8 * i + 8], "big") + W[i])
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
