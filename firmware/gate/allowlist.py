# The worker allowlist in RAM: one sorted bytes blob of fixed-width records
# and a binary search, no per-entry objects.
#
# A set of 500 bytes objects costs ~45 KB on the unix port (~25 KB on the
# ESP32: object header + separate data block + set slot per entry); this
# costs 17 bytes per entry (8.5 KB for 500). A record is the entry (8..16
# bytes) zero-padded to 16, then its length: distinct entries give distinct
# records, and records compare as plain bytes. A lookup allocates only its
# ~log2(n) 17-byte probes.
from micropython import const

_W = const(17)  # record width
_PAD = const(16)


def _record(entry):
    n = len(entry)
    return bytes(entry) + bytes(_PAD - n) + bytes((n,))


class Allowlist:
    """`key in allowlist` for pass hashes / cti (8..16 bytes)."""

    def __init__(self, table):
        self._t = table  # bytes or bytearray: sorted records of _W bytes
        self._n = len(table) // _W

    @classmethod
    def from_entries(cls, entries):
        """entries: iterable of 8..16-byte bytes (checked by the caller)."""
        recs = sorted(_record(e) for e in entries)
        return cls(b"".join(recs))

    def __len__(self):
        return self._n

    def __contains__(self, key):
        try:
            n = len(key)
        except TypeError:
            return False
        if not 8 <= n <= _PAD:
            return False
        k = _record(key)
        t = self._t
        lo = 0
        hi = self._n
        while lo < hi:
            mid = (lo + hi) >> 1
            r = t[mid * _W:(mid + 1) * _W]
            if r == k:
                return True
            if r < k:
                lo = mid + 1
            else:
                hi = mid
        return False


def parse(data):
    """Fast path for the usual blob: a definite-length CBOR array of definite
    short byte strings (8..16 bytes), read straight into sorted records
    without building a list of bytes objects. Returns an Allowlist, or None
    when the blob has any other shape (the caller then decodes it with the
    general CBOR decoder, which also gives the precise error)."""
    if not data:
        return None
    h = data[0]
    if h >> 5 != 4:
        return None
    ai = h & 31
    pos = 1
    if ai < 24:
        count = ai
    elif ai == 24 and len(data) >= 2:
        count = data[1]
        pos = 2
    elif ai == 25 and len(data) >= 3:
        count = (data[1] << 8) | data[2]
        pos = 3
    else:
        return None  # 4-byte counts are above the 20,000-entry cap anyway
    if count > 20000:
        return None
    table = bytearray(count * _W)
    o = 0
    end = len(data)
    prev = None
    ordered = True
    for _ in range(count):
        if pos >= end:
            return None
        b = data[pos]
        n = b - 0x40  # major type 2, length in the initial byte
        if not 8 <= n <= _PAD or pos + 1 + n > end:
            return None
        table[o:o + n] = data[pos + 1:pos + 1 + n]
        table[o + _PAD] = n
        if ordered and prev is not None and table[prev:prev + _W] > table[o:o + _W]:
            ordered = False
        prev = o
        o += _W
        pos += 1 + n
    if pos != end:
        return None  # trailing bytes: let the general decoder refuse them
    if not ordered:
        recs = sorted(bytes(table[i:i + _W]) for i in range(0, len(table), _W))
        table = b"".join(recs)
    return Allowlist(table)
