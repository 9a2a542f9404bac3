# app/scanner_service.py's ScannerService on GG_SCANNER_PTY (through
# hal.unix): prints "READY <json>" once the module set-up is done (with which
# set-up modules are still loaded and the live heap), then "CODE <text>" per
# code read within argv[2] ms. argv[1]: the scanner config (json).
import asyncio
import gc
import json
import sys
import time

from hal import port
from app.scanner_service import ScannerService

SETUP_MODULES = ("scanner.setup", "scanner.gm65", "scanner.link")


async def main(cfg, listen_ms):
    codes = []
    svc = ScannerService(port(), cfg, {}, codes.append)
    ready = asyncio.Event()
    svc.on_ready = ready.set
    task = asyncio.create_task(svc.run())
    await ready.wait()
    await asyncio.sleep_ms(0)  # the service goes on to its reader
    gc.collect()
    print("READY " + json.dumps({"status": svc.state["status"],
                                 "loaded": [m for m in SETUP_MODULES if m in sys.modules]}))
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < listen_ms:
        await asyncio.sleep_ms(20)
        while codes:
            print("CODE " + codes.pop(0))
    task.cancel()


asyncio.run(main(json.loads(sys.argv[1]), int(sys.argv[2])))
