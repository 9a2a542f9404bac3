# Runs setup/watch.py's ConsoleWatch on the unix port's console pty
# (GG_CONSOLE_PTY, GG_FLASH_DIR, GG_CHIP_ID from the env) and prints one JSON
# line whenever the SETUP service's modules come or go:
#   {"loaded": bool, "sessions": n, "alloc": live heap after gc.collect()}
# argv: resident (0/1), quiet_ms
import asyncio
import gc
import json
import sys

from hal import port as get_port
from setup.watch import ConsoleWatch

# what the running firmware holds anyway (the service uses them too): loaded
# first, so the heap numbers show the SETUP service's own share
import codec.cbor, control.envelope, crypto.ed25519, crypto.sha512, app.config  # noqa

crypto.ed25519._base()  # the base-point table, loaded by the first pass check


def state(watch):
    gc.collect()
    return {"loaded": "setup.service" in sys.modules, "sessions": watch.sessions,
            "alloc": gc.mem_alloc()}


async def monitor(watch):
    last = None
    while True:
        s = state(watch)
        key = (s["loaded"], s["sessions"])
        if key != last:
            last = key
            print(json.dumps(s))
        await asyncio.sleep_ms(20)


def main():
    watch = ConsoleWatch(get_port(), {}, resident=sys.argv[1] == "1", quiet_ms=int(sys.argv[2]))

    async def run():
        asyncio.create_task(monitor(watch))
        await watch.run()

    asyncio.run(run())


main()
