# What the display shows, and for how long. Wraps display.screens.Screens:
# a verdict screen stays `hold_ms`, then the idle screen comes back. Each
# change is also recorded as a "screen" event (the unix port writes it to
# the event file, so tests and the simulator can follow the screens).
import asyncio
import time


class ScreenService:
    def __init__(self, screens, port, idle_fields, hold_ms=2500, refresh_ms=30000):
        self.screens = screens  # display.screens.Screens, or None (no display)
        self.port = port
        self.idle_fields = idle_fields  # callable -> dict of idle() arguments
        self.hold_ms = hold_ms
        self.refresh_ms = refresh_ms
        self.current = None
        self._until = 0
        self.errors = 0
        self.beat = None

    def _draw(self, name, method, args):
        self.current = name
        self.port.event("screen", {"screen": name})
        if self.screens is None:
            return
        try:
            getattr(self.screens, method)(*args)
        except Exception as e:  # noqa: a broken display must never stop the gate
            self.errors += 1
            self.port.log("display: %s %r" % (name, e))

    def show(self, name, method, *args):
        """Show a screen for hold_ms, then idle."""
        self.show_for(name, self.hold_ms, method, *args)

    def show_for(self, name, ms, method, *args):
        self._draw(name, method, args)
        self._until = time.ticks_add(time.ticks_ms(), ms)

    def show_fixed(self, name, method, *args):
        """Show a screen until the next show()/idle() (setup, errors)."""
        self._draw(name, method, args)
        self._until = None

    def idle(self):
        f = self.idle_fields()
        if f.get("setup_id"):
            # not provisioned yet: show the device id for the technician
            self._draw("setup", "setup", (f["setup_id"],))
        else:
            self._draw("idle", "idle", (f["site_name"], f["clock_text"], f["online"],
                                        f["config_version"], f["revocation_version"],
                                        f["queue_depth"]))
        self._until = 0

    def refresh(self):
        """Redraw the idle (or set-up) screen now if it is what is showing."""
        if self._until == 0:
            self.idle()

    async def run(self):
        # A plain 250 ms tick: screens are drawn by show*() at once, this loop
        # only ends a verdict's hold time and refreshes the idle screen, so
        # it needs no wake-up event (an asyncio.wait_for_ms around an
        # Event.wait keeps two more tasks alive while it waits: ~0.9 KB here).
        self.idle()
        last = time.ticks_ms()
        while True:
            await asyncio.sleep_ms(250)
            if self.beat:
                self.beat()
            now = time.ticks_ms()
            if self._until is None:
                continue
            if self._until and time.ticks_diff(now, self._until) >= 0:
                self.idle()
                last = now
            elif not self._until and time.ticks_diff(now, last) >= self.refresh_ms:
                self.idle()  # clock text, online state, queue depth
                last = now
