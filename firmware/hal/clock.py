# Unix seconds on every port, a trusted flag and a floor.
#
# - ESP32 MicroPython counts from 2000-01-01; we detect the epoch once with
#   time.gmtime(0) and always return seconds since 1970.
# - trusted: the clock was set from NTP (or the host clock on the unix port).
# - floor: the issue time of the newest signed control message we accepted.
#   Signed messages can't come from the future, so the clock never reads
#   below the floor (an RTC reset to 2000 after a power cut would otherwise
#   make every pass look not yet valid). The floor is kept in NVS.
# - an RTC that kept running across a reset (soft reset, watchdog: the ESP32
#   RTC survives those, not a power cut) stays trusted without the network:
#   the last NTP sync time is kept in NVS, and a clock reading at or after it,
#   less than RTC_TRUST_S later, is believed. A clock that went back (power
#   cut: 2000-01-01) is not.
import time

EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
_FLOOR_KEY = "clock_floor"
_SYNC_KEY = "clock_synced"
RTC_TRUST_S = 3 * 86400


class Clock:
    def __init__(self, store=None, trusted=False):
        self.store = store  # hal nvs object (optional)
        self.trusted = trusted
        self.floor = 0
        if store is not None:
            self.floor = store.get_int(_FLOOR_KEY, 0)
            synced = store.get_int(_SYNC_KEY, 0)
            if synced and 0 <= self.raw() - synced < RTC_TRUST_S:
                self.trusted = True  # the RTC kept running since the last sync

    def raw(self):
        return int(time.time()) + EPOCH_OFFSET

    def now(self):
        t = self.raw()
        return t if t >= self.floor else self.floor

    def below_floor(self):
        # the RTC reads earlier than a message we have already seen
        return self.raw() < self.floor

    def raise_floor(self, issued_at):
        """Raise the floor to a signed message's issue time; True if it moved."""
        issued_at = int(issued_at)
        if issued_at <= self.floor:
            return False
        self.floor = issued_at
        if self.store is not None:
            self.store.set_int(_FLOOR_KEY, issued_at)
        return True

    def mark_synced(self, ok=True):
        """Record an NTP result. A failed re-sync keeps a clock trusted by a
        recent sync (the RTC drifts by seconds a day, not more)."""
        if ok:
            self.trusted = True
            if self.store is not None:
                self.store.set_int(_SYNC_KEY, self.raw())
        elif self.store is None or not self._recent_sync():
            self.trusted = False

    def _recent_sync(self):
        synced = self.store.get_int(_SYNC_KEY, 0)
        return bool(synced) and 0 <= self.raw() - synced < RTC_TRUST_S

    def status(self):
        return {"now": self.now(), "trusted": self.trusted, "floor": self.floor,
                "below_floor": self.below_floor()}
