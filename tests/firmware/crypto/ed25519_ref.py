"""Host-side textbook Ed25519 point math, only to craft adversarial inputs.

Written straight from RFC 8032 section 5.1 (affine formulas, pow inversion);
deliberately independent of firmware/crypto so tests don't check the code
against itself. `cryptography` (OpenSSL) stays the oracle for verdicts.
"""

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
B = (15112221349535400772501151409588531511454012693041857206046113283949847762202,
     46316835694926478169428394003475163141307993866256225615783033603165251855960)
IDENTITY = (0, 1)


def add(p1, p2):
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def mul(k, pt):
    acc = IDENTITY
    while k:
        if k & 1:
            acc = add(acc, pt)
        pt = add(pt, pt)
        k >>= 1
    return acc


def encode(pt):
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode_lenient(b):
    """Decode reducing y mod p and ignoring the x = 0 sign rule (what a lax
    verifier would do); None if no curve point has that y."""
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y = (y & ((1 << 255) - 1)) % P
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = (P - x) % P
    return x, y


def small_order_points():
    """The 8 points of order dividing 8: [L]P for points P until all are seen."""
    import random

    rng = random.Random(8)
    pts = set()
    while len(pts) < 8:
        pt = decode_lenient(rng.randbytes(32))
        if pt is not None:
            pts.add(mul(L, pt))
    return sorted(pts)


def k_of(r_enc, a_enc, msg):
    return int.from_bytes(hashlib.sha512(r_enc + a_enc + msg).digest(), "little") % L


def forge_for_small_order(a_enc, msg, start=1):
    """A signature that passes the cofactorless equation [S]B = R + [k]A for
    the (lenient) decoding of a_enc when A has small order: choose S, set
    R = [S]B, retry until [k]A is the identity."""
    a = decode_lenient(a_enc)
    s = start
    while True:
        r_enc = encode(mul(s, B))
        k = k_of(r_enc, a_enc, msg)
        if mul(k, a) == IDENTITY:
            return r_enc + s.to_bytes(32, "little")
        s += 1


def sign_with_scalar(a, a_enc, msg, r):
    """RFC 8032 signing with a raw secret scalar a (and nonce r), for keys
    no seed can produce (e.g. a*B plus a small-order point)."""
    r_enc = encode(mul(r, B))
    s = (r + k_of(r_enc, a_enc, msg) * a) % L
    return r_enc + s.to_bytes(32, "little")
