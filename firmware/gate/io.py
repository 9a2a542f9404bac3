# Gate hardware: relay (door strike / turnstile), buzzer, LEDs, exit button
# (each debounced press calls on_press: main wires it to Occupancy.exit).
# Classes receive their pin objects (machine.Pin / PWM on the ESP32, the
# unix port's fakes that log every change), so the logic is the same on
# both ports. Nothing here blocks: pulses and patterns run as asyncio tasks.
import asyncio
import time


class Relay:
    """Pulses a relay for `ms` milliseconds; a new pulse extends the open time."""

    def __init__(self, pin, pulse_ms=3000, active_high=True):
        self.pin = pin
        self.pulse_ms = pulse_ms
        self.on_level = 1 if active_high else 0
        self.pin.value(1 - self.on_level)
        self._until = 0
        self._task = None
        self.pulses = 0

    def is_open(self):
        return self.pin.value() == self.on_level

    def pulse(self, ms=None):
        ms = self.pulse_ms if ms is None else ms
        self.pulses += 1
        self._until = time.ticks_add(time.ticks_ms(), ms)
        self.pin.value(self.on_level)
        if self._task is None:
            self._task = asyncio.create_task(self._hold())

    async def _hold(self):
        try:
            while True:
                left = time.ticks_diff(self._until, time.ticks_ms())
                if left <= 0:
                    break
                await asyncio.sleep_ms(left)
        finally:
            self.pin.value(1 - self.on_level)
            self._task = None


def _pattern(name):
    """Buzzer pattern: (frequency Hz or 0 for silence, milliseconds) pairs.
    Constant tuples (in flash when frozen), not a module-level dict (a heap
    table for good)."""
    if name == "accept":
        return ((2700, 120),)
    if name == "deny":
        return ((900, 150), (0, 80), (900, 150), (0, 80), (900, 150))
    if name == "error":
        return ((400, 600),)
    return None


class Buzzer:
    def __init__(self, out):
        self.out = out  # object with tone(freq) / off()
        self._task = None

    def play(self, name):
        pattern = _pattern(name)
        if pattern is None:
            return
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._run(pattern))

    async def _run(self, pattern):
        try:
            for freq, ms in pattern:
                self.out.tone(freq)
                await asyncio.sleep_ms(ms)
        finally:
            # cancelled by a newer pattern: the output and _task are its own
            if self._task is asyncio.current_task():
                self.out.off()
                self._task = None


class Leds:
    """Green = accepted, red = refused; both off when idle."""

    def __init__(self, green, red):
        self.green = green
        self.red = red
        self.green.value(0)
        self.red.value(0)
        self._task = None

    def show(self, ok, ms=2000):
        (self.green if ok else self.red).value(1)
        (self.red if ok else self.green).value(0)
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._clear(ms))

    async def _clear(self, ms):
        try:
            await asyncio.sleep_ms(ms)
        finally:
            # cancelled by a newer show(): its LED stays on for its own time
            if self._task is asyncio.current_task():
                self.green.value(0)
                self.red.value(0)
                self._task = None  # a finished task is not kept


class ExitButton:
    """Debounced push button (active low). Calls on_press() once per press."""

    def __init__(self, pin, on_press, debounce_ms=50, poll_ms=10):
        self.pin = pin
        self.on_press = on_press
        self.debounce_ms = debounce_ms
        self.poll_ms = poll_ms
        self.presses = 0

    def step(self, state, raw, now):
        """Debounce one sample. state = (stable, candidate, since); returns new state."""
        stable, candidate, since = state
        if raw != candidate:
            return stable, raw, now
        if raw != stable and time.ticks_diff(now, since) >= self.debounce_ms:
            if raw == 0:  # released -> pressed
                self.presses += 1
                self.on_press()
            return raw, candidate, since
        return state

    async def run(self):
        now = time.ticks_ms()
        level = self.pin.value()
        state = (level, level, now)
        while True:
            await asyncio.sleep_ms(self.poll_ms)
            state = self.step(state, self.pin.value(), time.ticks_ms())


class GateIO:
    """The gate's outputs together: what an accept or a refusal does.
    (Entries are counted by the decision pipeline, gate/occupancy.py; the
    exit button decrements the same Occupancy.)"""

    def __init__(self, relay, buzzer, leds, exit_button=None, occupancy=None, event=None):
        self.relay = relay
        self.buzzer = buzzer
        self.leds = leds
        self.exit_button = exit_button
        self.occupancy = occupancy
        self.event = event  # port.event: records each exit (simulator, tests)

    def person_left(self):
        """The exit button's press: one person fewer inside. A method here,
        not a closure in app/gateparts.py, so that module can be unloaded
        after boot (a closure keeps its module's globals alive)."""
        occ = self.occupancy
        occ.exit()
        if self.event is not None:
            self.event("exit", {"inside": occ.inside, "exits": occ.exits})

    def accept(self):
        self.relay.pulse()
        self.buzzer.play("accept")
        self.leds.show(True)

    def deny(self):
        self.buzzer.play("deny")
        self.leds.show(False)

    def error(self):
        self.buzzer.play("error")
        self.leds.show(False)
