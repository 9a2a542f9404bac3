"""RSASSA-PSS verification, SHA-256 + MGF1-SHA-256 (PS256), for the device.

MicroPython has no RSA and micropython-lib no PSS; the bigint `pow` and
`hashlib.sha256` it does have are all PSS verification needs (docs/crypto.md).

    check(modulus, exponent, signature, message, salt_len=32) -> int code
    check_digest(modulus, exponent, signature, mhash, salt_len=32) -> int code
    verify(modulus, exponent, signature, message, salt_len=32) -> bool
    check_key(modulus, exponent) -> int code (for a trust-list import)
    public_key_from_der(der) -> (code, modulus, exponent)
    name(code) -> str

modulus: big-endian bytes (leading zero bytes allowed, as in DER);
exponent: int or big-endian bytes. salt_len: 0 .. emLen - 34, or SALT_AUTO:
the salt length is then read from the encoded message (the position of the
0x01 separator; any length from 0 to the key's maximum emLen - hLen - 2),
which is what "the salt length the key allows" (RFC 8230, the DCC
specification, PSS.MAX_LENGTH signers) needs. The code is OK (0) or the
first check that failed, in RFC 8017 9.1.2 order. Nothing here raises on any
input (wrong types, lengths, garbage); MemoryError propagates: running out
of heap is not a bad signature.
"""

import hashlib

from micropython import const

OK = const(0)
ARGUMENT = const(1)      # an argument is not bytes-like / int, or salt_len out of range
KEY_SIZE = const(2)      # modulus not 2048..4096 bits, or even
KEY_EXPONENT = const(3)  # exponent other than 65537
SIG_LENGTH = const(4)    # signature length != modulus length (k bytes)
SIG_RANGE = const(5)     # signature integer s >= n
EM_TOP_BITS = const(6)   # s^e mod n does not fit emBits (I2OSP error, leftmost bits set)
EM_TRAILER = const(7)    # last octet of EM is not 0xbc
EM_PADDING = const(8)    # DB is not zeros || 0x01 || salt (of the expected length)
HASH = const(9)          # H != Hash(0^8 || mHash || salt): wrong message, key or forgery
DER = const(10)          # public_key_from_der: not a strict DER RSA public key

SALT_AUTO = const(-1)
SALT_DEFAULT = const(32)
MIN_BITS = const(2048)
MAX_BITS = const(4096)
_H_LEN = const(32)
_NAMES = ("OK", "ARGUMENT", "KEY_SIZE", "KEY_EXPONENT", "SIG_LENGTH", "SIG_RANGE",
          "EM_TOP_BITS", "EM_TRAILER", "EM_PADDING", "HASH", "DER")
_BYTES = (bytes, bytearray, memoryview)


def name(code):
    return _NAMES[code] if isinstance(code, int) and 0 <= code < len(_NAMES) else "UNKNOWN"


def _modulus(modulus):
    """(code, n, modBits) of big-endian modulus bytes."""
    if not isinstance(modulus, _BYTES):
        return ARGUMENT, 0, 0
    if len(modulus) > 2 * MAX_BITS // 8:  # before copying it
        return KEY_SIZE, 0, 0
    raw = bytes(modulus).lstrip(b"\0")
    if not (MIN_BITS // 8 <= len(raw) <= MAX_BITS // 8) or not raw[-1] & 1:
        return KEY_SIZE, 0, 0
    top, bits = raw[0], 8 * len(raw) - 8
    while top:
        bits += 1
        top >>= 1
    if not MIN_BITS <= bits <= MAX_BITS:
        return KEY_SIZE, 0, 0
    return OK, int.from_bytes(raw, "big"), bits


def _exponent(exponent):
    if isinstance(exponent, _BYTES):
        ok = len(exponent) <= 16 and bytes(exponent).lstrip(b"\0") == b"\x01\x00\x01"
        return OK if ok else KEY_EXPONENT
    if isinstance(exponent, int):
        return OK if exponent == 65537 else KEY_EXPONENT
    return ARGUMENT


def check_key(modulus, exponent):
    """OK, or why this key can never verify here (size, exponent, type)."""
    code = _modulus(modulus)[0]
    return code if code else _exponent(exponent)


def _mgf1(seed, length):
    """MGF1-SHA-256(seed, length) as an int (only ever XORed as one)."""
    mask = bytearray((length + _H_LEN - 1) // _H_LEN * _H_LEN)
    counter = bytearray(4)
    for i in range(len(mask) // _H_LEN):
        counter[2] = i >> 8  # < 16 blocks for 4096 bits: two bytes suffice
        counter[3] = i & 0xFF
        h = hashlib.sha256(seed)
        h.update(counter)
        mask[i * _H_LEN:(i + 1) * _H_LEN] = h.digest()
    return int.from_bytes(memoryview(mask)[:length], "big")


def check_digest(modulus, exponent, signature, mhash, salt_len=SALT_DEFAULT):
    """check() for a message already hashed: mhash = SHA-256(message)."""
    code, n, mod_bits = _modulus(modulus)
    if not code:
        code = _exponent(exponent)
    if code:
        return code
    if not isinstance(signature, _BYTES) or not isinstance(mhash, _BYTES) or len(mhash) != _H_LEN:
        return ARGUMENT
    k = (mod_bits + 7) // 8
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    db_len = em_len - _H_LEN - 1
    if not isinstance(salt_len, int) or not (salt_len == SALT_AUTO or 0 <= salt_len <= db_len - 1):
        return ARGUMENT
    if len(signature) != k:
        return SIG_LENGTH
    s = int.from_bytes(signature, "big")
    if s >= n:
        return SIG_RANGE
    # RSAVP1, then I2OSP(m, emLen): k > emLen when modBits = 8j + 1, and then
    # the extra top octet must be zero
    em = pow(s, 65537, n).to_bytes(k, "big")
    if k > em_len:
        if em[0]:
            return EM_TOP_BITS
        em = memoryview(em)[1:]
    if em[em_len - 1] != 0xBC:
        return EM_TRAILER
    zero_bits = 8 * em_len - em_bits  # 0..7 leftmost bits of EM that must be 0
    if em[0] >> (8 - zero_bits):
        return EM_TOP_BITS
    h = bytes(em[db_len:em_len - 1])
    # DB = maskedDB xor MGF1(H) with its leftmost zero_bits cleared, on ints
    db = (int.from_bytes(memoryview(em)[:db_len], "big") ^ _mgf1(h, db_len)) & (
        (1 << (8 * db_len - zero_bits)) - 1)
    # zeros || 0x01 || salt: the first nonzero octet is the separator
    rest = db.to_bytes(db_len, "big").lstrip(b"\0")
    if not rest or rest[0] != 1 or (salt_len != SALT_AUTO and len(rest) != salt_len + 1):
        return EM_PADDING
    m2 = hashlib.sha256(bytes(8))
    m2.update(mhash)
    m2.update(memoryview(rest)[1:])
    return OK if m2.digest() == h else HASH


def check(modulus, exponent, signature, message, salt_len=SALT_DEFAULT):
    """OK (0) if signature is a valid PS256 signature of message under the
    key (modulus, exponent), else the reason code of the first failed check."""
    if not isinstance(message, _BYTES):
        return ARGUMENT
    return check_digest(modulus, exponent, signature, hashlib.sha256(message).digest(), salt_len)


def verify(modulus, exponent, signature, message, salt_len=SALT_DEFAULT):
    return check(modulus, exponent, signature, message, salt_len) == OK


# --- DER public keys (X.509 SubjectPublicKeyInfo or PKCS#1 RSAPublicKey) ---
# rsaEncryption 1.2.840.113549.1.1.1 (what DSC certificates carry) and
# id-RSASSA-PSS 1.2.840.113549.1.1.10 (parameters not interpreted: this
# module only does SHA-256 / MGF1-SHA-256 anyway)
_OID_RSA = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
_OID_PSS = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a"


def _tlv(der, pos, end, tag):
    """(start, stop) of the value of the strict-DER element with `tag` at
    pos; raises ValueError (caught by the caller) on anything malformed."""
    if pos + 2 > end or der[pos] != tag:
        raise ValueError
    n = der[pos + 1]
    pos += 2
    if n & 0x80:
        count = n & 0x7F
        if not 1 <= count <= 2 or pos + count > end:
            raise ValueError
        n = 0
        for i in range(count):
            n = (n << 8) | der[pos + i]
        pos += count
        if n < 0x80 or (count == 2 and n < 0x100):  # minimal length encodings only
            raise ValueError
    if pos + n > end:
        raise ValueError
    return pos, pos + n


def _positive_integer(der, pos, end):
    start, stop = _tlv(der, pos, end, 0x02)
    if stop == start or der[start] & 0x80:  # empty or negative
        raise ValueError
    if stop - start > 1 and der[start] == 0 and not der[start + 1] & 0x80:  # not minimal
        raise ValueError
    return start, stop


def _rsa_public_key(der, pos, end):
    start, stop = _tlv(der, pos, end, 0x30)
    if stop != end:
        raise ValueError
    n0, n1 = _positive_integer(der, start, stop)
    e0, e1 = _positive_integer(der, n1, stop)
    if e1 != stop:
        raise ValueError
    return bytes(der[n0:n1]).lstrip(b"\0"), int.from_bytes(der[e0:e1], "big") if e1 - e0 <= 4 else bytes(der[e0:e1])


def public_key_from_der(der):
    """(OK, modulus bytes, exponent) from a DER SubjectPublicKeyInfo (the
    key of an X.509 certificate) or a bare RSAPublicKey; (DER, None, None)
    if it is not strict DER of one of those; (KEY_SIZE / KEY_EXPONENT,
    None, None) for a key this module refuses. Never raises (MemoryError
    aside)."""
    if not isinstance(der, _BYTES) or len(der) > 4096:
        return (ARGUMENT if not isinstance(der, _BYTES) else DER), None, None
    der = memoryview(der)
    end = len(der)
    try:
        outer, outer_end = _tlv(der, 0, end, 0x30)
        if outer_end != end:
            raise ValueError
        if outer < end and der[outer] == 0x02:  # RSAPublicKey: INTEGER n first
            modulus, exponent = _rsa_public_key(der, 0, end)
        else:
            alg, alg_end = _tlv(der, outer, end, 0x30)
            oid, oid_end = _tlv(der, alg, alg_end, 0x06)
            if bytes(der[oid:oid_end]) not in (_OID_RSA, _OID_PSS):
                raise ValueError
            if bytes(der[oid:oid_end]) == _OID_RSA and bytes(der[oid_end:alg_end]) != b"\x05\x00":
                raise ValueError  # rsaEncryption parameters must be NULL
            bits, bits_end = _tlv(der, alg_end, end, 0x03)
            if bits_end != end or bits == bits_end or der[bits] != 0:  # no unused bits
                raise ValueError
            modulus, exponent = _rsa_public_key(der, bits + 1, bits_end)
    except (ValueError, IndexError):
        return DER, None, None
    code = check_key(modulus, exponent)
    return (OK, modulus, exponent) if code == OK else (code, None, None)
