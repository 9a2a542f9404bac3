# People inside the site (entries minus exits) and recently admitted passes
# for the duplicate-scan window. Bounded: at most _RECENT pass hashes kept.
from micropython import const

_RECENT = const(256)


class Occupancy:
    def __init__(self, inside=0):
        self.inside = inside
        self.entries = 0
        self.exits = 0
        self._recent = {}  # pass hash -> unix time of the last admission

    def admit(self, pass_hash, now):
        self.inside += 1
        self.entries += 1
        if pass_hash is not None and now is not None:
            if len(self._recent) >= _RECENT and pass_hash not in self._recent:
                self._evict()
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

    def _evict(self):
        oldest = None
        for h in self._recent:
            if oldest is None or self._recent[h] < self._recent[oldest]:
                oldest = h
        del self._recent[oldest]
