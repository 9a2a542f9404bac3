# Connectivity as a service: Wi-Fi (ESP32; a no-op on the unix port), clock
# sync (NTP), then the MQTT client's own supervisor and the reporter's drain
# loop. Losing the network never affects scanning: decisions go to the
# outbox on flash and leave when the broker is back.
import asyncio


def parse_broker(url):
    """'mqtt://host:port' or 'mqtts://host:port' -> (host, port, tls)."""
    tls = url.startswith("mqtts://")
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("/", 1)[0]
    host = rest
    port = 8883 if tls else 1883
    if ":" in rest:
        host, p = rest.rsplit(":", 1)
        try:
            port = int(p)
        except ValueError:
            pass
    return host, port, tls


class NetService:
    def __init__(self, port, cfg, clock, client, reporter, retry_s=30):
        self.port = port
        self.cfg = cfg
        self.clock = clock
        self.client = client
        self.reporter = reporter
        self.retry_s = retry_s
        self.online = False
        self.on_synced = None  # called after the first clock sync (redraw the clock)

    async def run(self):
        while not self.online:
            self.online = await self.port.connect_network(self.cfg.get("wifi", {}))
            if not self.online:
                await asyncio.sleep(self.retry_s)
        self.clock.mark_synced(self.port.sync_time())
        self.port.event("net", {"online": True, "clock_trusted": self.clock.trusted})
        if self.on_synced:
            self.on_synced()
        if self.client is not None:
            self.client.start()
        if self.reporter is not None:
            await self.reporter.run()
        else:
            while True:
                await asyncio.sleep(3600)

    async def resync(self, period_s=21600, retry_s=300):
        """The clock task: re-syncs the clock from NTP every `period_s` once
        the network is up (the ESP32 RTC drifts; a failed sync leaves the
        clock untrusted). A method, not a class of its own: one object and
        one class fewer on the heap (docs/memory.md)."""
        while True:
            if not self.online:
                await asyncio.sleep(5)
                continue
            await asyncio.sleep(period_s if self.clock.trusted else retry_s)
            self.clock.mark_synced(self.port.sync_time())
