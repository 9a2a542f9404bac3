"""Textbook Ed25519 verify: the baseline the firmware's comb is measured
against (bench only, never on the device).

Plain double-and-add on extended coordinates, 3-argument pow for inversion
and square root, [S]B and R + [k]A computed separately and compared as
encodings. Same SHA-512 as the firmware, so only the curve math differs.
"""

from crypto.sha512 import sha512

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
BY = 4 * pow(5, P - 2, P) % P


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


BX = _recover_x(BY, 0)
B = (BX, BY, 1, BX * BY % P)


def _add(p1, p2):
    a = (p1[1] - p1[0]) * (p2[1] - p2[0]) % P
    b = (p1[1] + p1[0]) * (p2[1] + p2[0]) % P
    c = 2 * p1[3] * p2[3] * D % P
    d = 2 * p1[2] * p2[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _mul(k, pt):
    acc = (0, 1, 1, 0)
    while k:
        if k & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        k >>= 1
    return acc


def _encode(pt):
    zi = pow(pt[2], P - 2, P)
    x = pt[0] * zi % P
    y = pt[1] * zi % P
    return y | ((x & 1) << 255)


def _decode(b):
    v = int.from_bytes(b, "little")
    y = v & ((1 << 255) - 1)
    x = _recover_x(y, v >> 255)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def verify(public_key, signature, message):
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key)
    r = _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(sha512(signature[:32] + public_key + message), "little") % L
    return _encode(_mul(s, B)) == _encode(_add(r, _mul(k, a)))
