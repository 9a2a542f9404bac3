# People inside the site (entries minus exits) and recently admitted passes
# for the duplicate-scan window. Bounded: the last _RECENT admissions are kept
# in a ring (oldest overwritten first), so an admission is O(1) even when full.
from micropython import const

_RECENT = const(256)


class Occupancy:
    def __init__(self, inside=0):
        self.inside = inside
        self.entries = 0
        self.exits = 0
        self._recent = {}               # pass hash -> unix time of the last admission
        self._ring = [None] * _RECENT   # (pass hash, time) in admission order
        self._next = 0

    def admit(self, pass_hash, now):
        self.inside += 1
        self.entries += 1
        if pass_hash is None or now is None:
            return
        old = self._ring[self._next]
        if old is not None and self._recent.get(old[0]) == old[1]:
            del self._recent[old[0]]  # only if not re-admitted since
        self._ring[self._next] = (pass_hash, now)
        self._next = (self._next + 1) % _RECENT
        self._recent[pass_hash] = now

    def exit(self, count=1):
        """Exit counter (turnstile / button): never below zero."""
        self.exits += count
        self.inside = max(0, self.inside - count)

    def reset(self, inside=0):
        self.inside = inside

    def seen_within(self, pass_hash, now, window):
        t = self._recent.get(pass_hash)
        return t is not None and 0 <= now - t < window
