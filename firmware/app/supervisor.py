# Keeps the services running and feeds the watchdog only while they are.
#
# - each service is a name + a factory returning a fresh coroutine;
# - a service that ends or raises is restarted at the next check (once a
#   second), and its failure is logged by the loop's exception handler;
# - services that beat (`beat(name)`) must do so within their `stale_ms`;
# - the watchdog is fed only when every service is alive and fresh and no
#   service failed more than `max_restarts` times in a row: a wedged or
#   crash-looping device resets instead of limping on.
import asyncio
import time
import sys
from micropython import const

# A service is a list (its name is its key in Supervisor.services): ~2/3 of
# an instance with the same seven attributes (docs/memory.md).
_FACTORY = const(0)
_STALE_MS = const(1)
_TASK = const(2)
_LAST_BEAT = const(3)
_RESTARTS = const(4)
_FAILURES = const(5)  # in a row, reset when it has run a while
_STARTED = const(6)


class Supervisor:
    def __init__(self, log, watchdog=None, period_ms=1000, max_restarts=5):
        self.log = log
        self.watchdog = watchdog
        self.period_ms = period_ms
        self.max_restarts = max_restarts
        self.services = {}
        self.errors = 0
        self.starving = None  # why the watchdog is not being fed

    def feed_now(self):
        """Feed the watchdog from inside a long, bounded synchronous job
        (rebuilding the trust list) that keeps the loop from running."""
        if self.watchdog is not None:
            self.watchdog.feed()

    def add(self, name, factory, stale_ms=None):
        self.services[name] = [factory, stale_ms, None, time.ticks_ms(), 0, 0, 0]

    def beat_fn(self, name):
        svc = self.services[name]

        def beat():
            svc[_LAST_BEAT] = time.ticks_ms()

        return beat

    def _start(self, svc):
        svc[_LAST_BEAT] = svc[_STARTED] = time.ticks_ms()
        svc[_TASK] = asyncio.create_task(svc[_FACTORY]())

    def start(self):
        for name in self.services:
            self._start(self.services[name])

    def handle(self, loop, context):
        # global asyncio exception handler: log, the check loop restarts
        self.errors += 1
        exc = context.get("exception")
        self.log("task failed: %s" % (context.get("message") or ""))
        if exc is not None:
            sys.print_exception(exc, sys.stderr)

    def check(self):
        now = time.ticks_ms()
        healthy = None
        for name in self.services:
            svc = self.services[name]
            task = svc[_TASK]
            if task is None or task.done():
                svc[_RESTARTS] += 1
                svc[_FAILURES] += 1
                self.log("service %s stopped, restart #%d" % (name, svc[_RESTARTS]))
                self._start(svc)
                if svc[_FAILURES] > self.max_restarts:
                    healthy = "crash loop: " + name
                continue
            if time.ticks_diff(now, svc[_STARTED]) > 60000:
                svc[_FAILURES] = 0
            stale = svc[_STALE_MS]
            if stale and time.ticks_diff(now, svc[_LAST_BEAT]) > stale:
                healthy = "stale: " + name
        self.starving = healthy
        if healthy is None and self.watchdog is not None:
            self.watchdog.feed()
        return healthy is None

    async def run(self):
        while True:
            self.check()
            await asyncio.sleep_ms(self.period_ms)

    def status(self):
        out = {}
        for name in self.services:
            svc = self.services[name]
            task = svc[_TASK]
            out[name] = {"alive": task is not None and not task.done(),
                         "restarts": svc[_RESTARTS]}
        return out
