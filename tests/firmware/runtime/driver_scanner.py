# MicroPython driver for the scanner tests.
#   micropython driver_scanner.py setup '<settings json>' <listen_ms>
#     opens GG_SCANNER_PTY through hal.unix, runs scanner.setup.configure,
#     prints "STATE <json>", then reads codes for listen_ms through
#     ScannerReader and prints "CODE <text>" per code and "STATS <json>".
#   micropython driver_scanner.py framer '<framer json>'
#     JSON lines on stdin: {"feed": "<hex>", "now": ms} or {"idle": ms};
#     answers {"codes": [...], "stats": {...}} per line (null: a rejected line).
import sys
import json
import asyncio
import time
import binascii


def framer_main(opts):
    from scanner.framer import Framer

    out = []
    # a rejected line (too long, not ASCII) shows as None among the codes
    f = Framer(out.append, cap=opts.get("cap", 1024), repeat_ms=opts.get("repeat_ms", 3000),
               on_reject=lambda: out.append(None))
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        if "feed" in req:
            data = binascii.unhexlify(req["feed"])
            f.feed(data, len(data), req["now"])
        if "idle" in req:
            f.idle(req["idle"])
        print(json.dumps({"codes": out, "stats": f.stats()}))
        out.clear()


async def setup_main(opts, listen_ms):
    from hal import port
    from scanner import setup
    from scanner.link import SerialLink
    from scanner.framer import Framer
    from scanner.reader import ScannerReader

    p = port()
    serial, set_baud = p.open_scanner({}, {})
    settings = setup.Settings.from_dict(opts)
    link = SerialLink(serial, set_baud, None)
    state = await setup.configure(link, settings)
    print("STATE " + json.dumps(state))
    codes = []
    framer = Framer(codes.append, cap=opts.get("max_len", 1024),
                    repeat_ms=opts.get("repeat_ms", 3000))
    reader = ScannerReader(serial, framer, inter_byte_ms=opts.get("inter_byte_ms", 60))
    task = asyncio.create_task(reader.run())
    print("LISTENING")
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < listen_ms:
        await asyncio.sleep_ms(20)
        while codes:
            print("CODE " + codes.pop(0))
    task.cancel()
    print("STATS " + json.dumps(framer.stats()))


async def stall_main(opts):
    # The event loop stalls (a blocking read of stdin stands in for a long
    # signature check) while the rest of a code arrives; the line has been
    # quiet past inter_byte_ms by the clock, but its bytes wait in the port.
    from hal import port
    from scanner.framer import Framer
    from scanner.reader import ScannerReader

    serial, _ = port().open_scanner({}, {})
    codes = []
    framer = Framer(codes.append)
    reader = ScannerReader(serial, framer, inter_byte_ms=opts.get("inter_byte_ms", 60))
    task = asyncio.create_task(reader.run())
    print("LISTENING")
    while not framer.pending():
        await asyncio.sleep_ms(1)
    print("PENDING")
    sys.stdin.readline()
    time.sleep_ms(2 * opts.get("inter_byte_ms", 60))
    start = time.ticks_ms()
    while not codes and time.ticks_diff(time.ticks_ms(), start) < 3000:
        await asyncio.sleep_ms(10)
    task.cancel()
    print("CODES " + json.dumps(codes))
    print("STATS " + json.dumps(framer.stats()))


mode = sys.argv[1]
opts = json.loads(sys.argv[2])
if mode == "framer":
    framer_main(opts)
elif mode == "stall":
    asyncio.run(stall_main(opts))
else:
    asyncio.run(setup_main(opts, int(sys.argv[3])))
