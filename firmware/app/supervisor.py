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


class Service:
    def __init__(self, name, factory, stale_ms):
        self.name = name
        self.factory = factory
        self.stale_ms = stale_ms
        self.task = None
        self.last_beat = time.ticks_ms()
        self.restarts = 0
        self.failures = 0  # in a row, reset when it has run a while
        self.started = 0


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
        self.services[name] = Service(name, factory, stale_ms)

    def beat_fn(self, name):
        svc = self.services[name]

        def beat():
            svc.last_beat = time.ticks_ms()

        return beat

    def _start(self, svc):
        svc.last_beat = time.ticks_ms()
        svc.started = svc.last_beat
        svc.task = asyncio.create_task(svc.factory())

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
            if svc.task is None or svc.task.done():
                svc.restarts += 1
                svc.failures += 1
                self.log("service %s stopped, restart #%d" % (name, svc.restarts))
                self._start(svc)
                if svc.failures > self.max_restarts:
                    healthy = "crash loop: " + name
                continue
            if time.ticks_diff(now, svc.started) > 60000:
                svc.failures = 0
            if svc.stale_ms and time.ticks_diff(now, svc.last_beat) > svc.stale_ms:
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
            out[name] = {"alive": svc.task is not None and not svc.task.done(),
                         "restarts": svc.restarts}
        return out
