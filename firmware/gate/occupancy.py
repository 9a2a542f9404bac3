# People inside the site (entries minus exits) and recently admitted passes
# for the duplicate-scan window. Bounded: the last _RECENT admissions are kept
# in a ring (oldest overwritten first), so an admission is O(1) even when full.
# Memory (docs/memory.md): no object per ring slot besides the pass hash
# (times in an int32 array), and times are kept relative to the first
# admission, so they stay small ints on the ESP32 (unix seconds are bigints
# there: above 2**30).
from array import array

from micropython import const

_RECENT = const(256)


class Occupancy:
    def __init__(self, inside=0):
        self.inside = inside
        self.entries = 0
        self.exits = 0
        self._recent = {}               # pass hash -> time of its last admission (- _t0)
        self._ring = [None] * _RECENT   # pass hashes in admission order
        self._ring_t = array("i", bytes(4 * _RECENT))  # their admission times (- _t0)
        self._t0 = None                 # unix time of the first admission
        self._next = 0

    def admit(self, pass_hash, now):
        self.inside += 1
        self.entries += 1
        if pass_hash is None or now is None:
            return
        if self._t0 is None:
            self._t0 = now
        t = now - self._t0
        i = self._next
        old = self._ring[i]
        if old is not None and self._recent.get(old) == self._ring_t[i]:
            del self._recent[old]  # only if not re-admitted since
        self._ring[i] = pass_hash
        self._ring_t[i] = t
        self._next = (i + 1) % _RECENT
        self._recent[pass_hash] = t

    def exit(self, count=1):
        """Exit counter (turnstile / button): never below zero."""
        self.exits += count
        self.inside = max(0, self.inside - count)

    def reset(self, inside=0):
        self.inside = inside

    def seen_within(self, pass_hash, now, window):
        t = self._recent.get(pass_hash)
        return t is not None and 0 <= now - self._t0 - t < window
