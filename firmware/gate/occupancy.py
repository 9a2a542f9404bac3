# People inside the site (entries minus exits) and recently admitted passes
# for the duplicate-scan window. The window is one ring allocated up front:
# the last _RECENT admissions as records of the pass hash's first 8 bytes +
# its admission time, oldest overwritten first. Its memory is fixed (3 KB)
# however many passes are admitted: no object per admission (docs/memory.md).
# 8 bytes are enough here: two different passes share a prefix by chance
# with ~256 / 2**64 per scan (and then only DUPLICATE for the window's
# seconds); revocations and allowlists still compare whole hashes.
# Lookups scan the ring from the newest record (viper: ~1 us for a full ring
# on the unix port, docs/memory.md), so a re-admitted pass is judged by its
# latest admission.
# Times are seconds since the first admission, kept as u32 (modulo 2**32)
# and compared as signed 32-bit differences: right for admissions up to 68
# years apart, and small ints on the ESP32 (unix seconds are bigints there).
import micropython
from micropython import const

_RECENT = const(256)
_HASH = const(8)    # leading pass hash bytes kept (docs/pass-format.md 7)
_REC = const(12)    # hash prefix + u32 time, little-endian


@micropython.viper
def _find(ring, h, hlen: int, newest: int, count: int) -> int:
    # slot of the newest of `count` records (back from slot `newest`) whose
    # hash is h (its first _HASH bytes, zero-padded), or -1
    r = ptr8(ring)
    k = ptr8(h)
    first = int(k[0]) if hlen > 0 else 0
    slot = newest
    n = 0
    while n < count:
        o = slot * _REC
        if r[o] == first:
            i = 1
            while i < _HASH:
                c = int(k[i]) if i < hlen else 0
                if r[o + i] != c:
                    break
                i += 1
            if i == _HASH:
                return slot
        slot -= 1
        if slot < 0:
            slot = _RECENT - 1
        n += 1
    return -1


@micropython.viper
def _put_hash(ring, slot: int, h, hlen: int):
    r = ptr8(ring)
    k = ptr8(h)
    o = slot * _REC
    i = 0
    while i < _HASH:
        r[o + i] = k[i] if i < hlen else 0
        i += 1


def _s32(x):
    # x wrapped to a signed 32-bit value (two's complement)
    if -0x80000000 <= x < 0x80000000:
        return x
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class Occupancy:
    def __init__(self, inside=0):
        self.inside = inside
        self.entries = 0
        self.exits = 0
        self._ring = bytearray(_RECENT * _REC)
        self._next = 0      # slot the next admission takes
        self._count = 0     # slots in use (up to _RECENT)
        self._t0 = None     # unix time of the first admission

    def admit(self, pass_hash, now):
        self.inside += 1
        self.entries += 1
        if pass_hash is None or now is None:
            return
        if self._t0 is None:
            self._t0 = now
        t = _s32(now - self._t0)
        i = self._next
        _put_hash(self._ring, i, pass_hash, len(pass_hash))
        r = self._ring
        o = i * _REC + _HASH
        r[o] = t & 0xFF
        r[o + 1] = (t >> 8) & 0xFF
        r[o + 2] = (t >> 16) & 0xFF
        r[o + 3] = (t >> 24) & 0xFF
        self._next = (i + 1) % _RECENT
        if self._count < _RECENT:
            self._count += 1

    def exit(self, count=1):
        """Exit counter (turnstile / button): never below zero."""
        self.exits += count
        self.inside = max(0, self.inside - count)

    def reset(self, inside=0):
        self.inside = inside

    def seen_within(self, pass_hash, now, window):
        """True if pass_hash was last admitted less than `window` seconds
        before `now` (and not in the future), among the last _RECENT."""
        if pass_hash is None or now is None or not self._count:
            return False
        i = _find(self._ring, pass_hash, len(pass_hash), (self._next - 1) % _RECENT,
                  self._count)
        if i < 0:
            return False
        r = self._ring
        o = i * _REC + _HASH
        hi = r[o + 3]
        if hi > 127:
            hi -= 256
        t = hi << 24 | r[o + 2] << 16 | r[o + 1] << 8 | r[o]
        return 0 <= _s32(now - self._t0 - t) < window
