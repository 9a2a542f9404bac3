# MicroPython driver: app.supervisor.Supervisor with a counting watchdog.
#   restart   a service that raises is logged by the handler and restarted
#   stale     a service that stops beating starves the watchdog
#   crashloop a service that always fails starves the watchdog
#   softwdt   hal.unix SoftWatchdog ends the process when not fed
import sys
import json
import asyncio


class CountingWDT:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


logs = []


async def scenario(name):
    from app.supervisor import Supervisor

    wdt = CountingWDT()
    sup = Supervisor(logs.append, wdt, period_ms=20, max_restarts=3)
    runs = {"flaky": 0, "steady": 0}

    async def flaky():
        runs["flaky"] += 1
        await asyncio.sleep_ms(30)
        if runs["flaky"] == 1:
            raise ValueError("boom")
        while True:
            await asyncio.sleep_ms(10)

    async def steady():
        runs["steady"] += 1
        while True:
            beat()
            await asyncio.sleep_ms(10)

    async def sleepy():
        await asyncio.sleep_ms(100)  # beats once at start, then never
        while True:
            await asyncio.sleep_ms(1000)

    async def broken():
        raise OSError(5)

    asyncio.get_event_loop().set_exception_handler(sup.handle)
    if name == "restart":
        sup.add("flaky", flaky)
        sup.add("steady", steady, stale_ms=200)
    elif name == "stale":
        sup.add("sleepy", sleepy, stale_ms=150)
    else:
        sup.add("broken", broken)
    beat = sup.beat_fn(list(sup.services)[-1])
    sup.start()
    task = asyncio.create_task(sup.run())
    await asyncio.sleep_ms(200)
    early = wdt.feeds
    await asyncio.sleep_ms(400)
    task.cancel()
    late = wdt.feeds - early
    print(json.dumps({"runs": runs, "errors": sup.errors, "early": early, "late": late,
                      "starving": sup.starving, "status": sup.status(),
                      "logs": [l for l in logs if "stopped" in l or "failed" in l]}))


def softwdt():
    import time
    from hal import port

    wdt = port().watchdog(300)
    for _ in range(10):
        time.sleep_ms(100)
        wdt.feed()
    print("FED")
    time.sleep_ms(5000)  # not fed: the watchdog ends us well before
    print("STILL ALIVE")


mode = sys.argv[1]
if mode == "softwdt":
    softwdt()
else:
    asyncio.run(scenario(mode))
