# Test driver (MicroPython): the real MQTT client (net/client.py) + the control
# service against a real broker. argv: root device_id site_id key_file port secs
# Prints one JSON line when trust, revocation and config are all applied and a
# command has been answered (or when secs have passed).
import sys
import json
import asyncio
import time

from control.state import ControlState
from control.service import ControlService
from net.client import MQTTClient

root, device_id, site_id, key_file, port, secs = sys.argv[1:7]
keys = [open(key_file, "rb").read()]


class Clock:
    trusted = True

    def now(self):
        return time.time() + 946684800 if time.time() < 946684800 else time.time()


def on_command(code, args):
    return 0, "ok %d" % code, None


async def main():
    client = MQTTClient(device_id, "127.0.0.1", int(port), user=device_id, password="pw")
    svc = ControlService(ControlState(root, device_id, site_id), root, keys, Clock(),
                         on_command=on_command)
    svc.attach(client)
    client.start()
    task = asyncio.create_task(svc.run())
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < int(secs) * 1000:
        await asyncio.sleep_ms(100)
        v = svc.state.versions()
        if v.get(1) and v.get(2) and v.get(3) and v.get(4) and not svc._replies:
            await asyncio.sleep_ms(300)  # let the reply's PUBACK come back
            break
    task.cancel()
    await client.stop()
    st = svc.state_fields()
    print(json.dumps({"versions": st[3], "error": st[12], "fetching": st[13] is not None}))


asyncio.run(main())
