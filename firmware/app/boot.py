# GreenGate terminal: wires the services together, nothing else (main.py runs main()).
#   scanner -> code queue -> decision (decide, outbox, gate I/O, screen)
#   exit button -> occupancy;  net (Wi-Fi, NTP, MQTT, reporter);  control;
#   setup (provisioning over the USB console: loaded on demand once provisioned)
# A supervisor restarts failed services and feeds the watchdog only while
# all of them run; the loop's exception handler logs every task failure.
import gc
import asyncio


def main():
    from hal import port as get_port
    from hal.clock import Clock
    from app import config, pins as pinmap
    from app.codequeue import CodeQueue
    from app.supervisor import Supervisor

    port = get_port()
    cfg = config.load(port.flash_dir())
    pins = pinmap.merged(cfg.get("pins"))
    clock = Clock(port.nvs())
    queue = CodeQueue(cfg.get("queue", 8))
    sup = Supervisor(port.log)
    gc.collect()

    # gate hardware
    from app import gateparts

    gate = gateparts.build(port, cfg, pins)

    # control plane: signed config / trust list / revocations -> decider
    from app import policy

    plane = policy.Policy(port, cfg, clock, gate.occupancy)
    gc.collect()

    # display
    from app.screen import ScreenService

    screen = ScreenService(policy.make_screens(port, cfg, pins), port, plane.idle_fields)
    gc.collect()

    # outbox + MQTT + reporter
    from app import netparts

    client, reporter = netparts.build(port, cfg, plane, clock, on_connect=screen.refresh)

    # signed control messages over MQTT -> control state -> plane.reload();
    # the service is loaded only while messages come (control/link.py)
    from app.config import fleet_keys

    keys = fleet_keys(cfg)
    if keys:
        plane.start_control(keys, gate, screen, cfg.get("control_quiet_ms", 30000))
    else:
        port.log("no fleet keys in config.json: control messages are ignored")
    plane.attach(client, reporter, screen, queue)
    if plane.control is not None:
        # firmware updates, offered as signed control messages (ota/link.py:
        # the updater is loaded only while an update is under way)
        from ota.link import OtaLink

        plane.control.ota = OtaLink(plane)
    reporter.route(client)  # the fleet's scan acks -> reporter; the rest -> control link
    gc.collect()

    from app.scanner_service import ScannerService
    from app.decisions import DecisionService
    from app.netservice import NetService

    scanner = ScannerService(port, cfg["scanner"], pins, queue.put)
    scanner.on_ready = reporter.publish_state
    decisions = DecisionService(queue, plane.decider, clock, gate, screen,
                                reporter.record_scan, port)
    net = NetService(port, cfg, clock, client, reporter)
    net.on_synced = screen.refresh
    plane.status_sources = (scanner.status, sup.status)
    plane.tick = sup.feed_now

    sup.add("scanner", scanner.run, stale_ms=30000)
    scanner.beat = sup.beat_fn("scanner")
    sup.add("decisions", decisions.run)
    sup.add("screen", screen.run, stale_ms=30000)
    screen.beat = sup.beat_fn("screen")
    sup.add("exit_button", gate.exit_button.run)
    sup.add("net", net.run)
    sup.add("clock", net.resync)

    # SETUP: provisioning frames on the USB console (docs/provisioning.md);
    # on a provisioned device the service is loaded only while frames come
    from setup.watch import ConsoleWatch

    try:
        console = ConsoleWatch(port, cfg, resident=not keys,
                               quiet_ms=cfg.get("setup_quiet_ms", 60000))
        sup.add("setup", console.run)
    except OSError as e:
        port.log("no console, SETUP service off: %r" % (e,))

    # boot-only modules (the SETUP service loads app.config again if needed)
    from app import unload

    config = pinmap = pins = fleet_keys = gateparts = netparts = None
    unload("app.config", "app.pins", "app.gateparts", "app.netparts")
    gc.collect()

    async def run():
        asyncio.get_event_loop().set_exception_handler(sup.handle)
        sup.watchdog = port.watchdog(cfg.get("watchdog_ms", 10000))
        sup.start()
        await sup.run()

    asyncio.run(run())

