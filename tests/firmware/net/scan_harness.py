# MicroPython harness for the end-to-end reporting tests: the real outbox,
# reporter and MQTT client, one "scan" per counter value.
#   argv[1]: path of a JSON file {"dir", "counter", "host", "port", "device", "scans",
#            "interval_ms", "capacity", "segment_records", "keepalive",
#            "cafile", "server_hostname", "exit_when_drained", "fleet_ack_ms",
#            "stop_scanning_at", "control"}
# With "control" (a directory): the resident control link (control/link.py,
# with an empty ControlState there) takes the control topics, as on a gate,
# and its state keys (12: last control error) go into the retained state.
# A record leaves the outbox only on the fleet's ack (the test's paho fleet,
# net_helpers.Fleet); every taken ack is an "acked" event.
# Scan k is recorded as time = T0 + k, pass hash = b"SCAN" + k (4 bytes BE)
# + 8 zero bytes, verdict = k % 3 != 0, reason = 0 or REVOKED, time_valid =
# k even. The counter file (written by temp file + rename after each append)
# says which scan comes next after a restart: a kill between the append and
# the counter write repeats that scan, as a person would scan again.
import asyncio
import json
import os
import struct
import sys
from binascii import hexlify

from net.client import MQTTClient, tls_context
from net import reporter as rep
from store.outbox import Outbox
from verify import reasons

T0 = 1631000000


def emit(**kw):
    print(json.dumps(kw))


def read_counter(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def write_counter(path, k):
    with open(path + ".tmp", "w") as f:
        f.write(str(k))
    os.rename(path + ".tmp", path)


async def scanner(cfg, r, ob):
    k = read_counter(cfg["counter"])
    n = cfg["scans"]
    interval = cfg.get("interval_ms", 2)
    while k < n:
        h = b"SCAN" + struct.pack(">I", k) + bytes(8)
        verdict = k % 3 != 0
        seq = r.record_scan(T0 + k, k % 2 == 0, h, verdict,
                            reasons.OK if verdict else reasons.REVOKED)
        emit(ev="appended", seq=seq, scan=k)
        k += 1
        write_counter(cfg["counter"], k)
        await asyncio.sleep_ms(interval)
    emit(ev="scanned", next_seq=ob.next_seq)


async def status(every_ms, r, ob, client, link):
    while True:
        emit(ev="status", acked=ob.acked, depth=ob.depth, batches=r.batches,
             resends=r.resends, connects=client.connects, connected=client.connected,
             failures=client.failures,
             control_error=link.last_error if link else None)
        await asyncio.sleep_ms(every_ms)


async def main():
    # A JSON file: the unix port crashes on command-line arguments
    # longer than ~220 bytes ("FATAL: uncaught NLR").
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    ob = Outbox(cfg["dir"], capacity=cfg.get("capacity", 2048),
                segment_records=cfg.get("segment_records", 64))
    emit(ev="start", next_seq=ob.next_seq, depth=ob.depth, acked=ob.acked,
         dropped=ob.dropped)
    dev = cfg["device"]
    ssl = tls_context(cafile=cfg["cafile"]) if cfg.get("cafile") else None
    client = MQTTClient(dev, cfg["host"], cfg["port"],
                        keepalive=cfg.get("keepalive", 10),
                        will=rep.last_will(dev), ssl=ssl,
                        server_hostname=cfg.get("server_hostname"),
                        backoff_min_ms=100, backoff_max_ms=1000)
    link = None
    if cfg.get("control"):
        from control.link import ControlLink
        from control.state import ControlState

        link = ControlLink(ControlState(cfg["control"], dev), log=lambda line: emit(
            ev="log", line=line))

    def state_fields():
        d = {2: "test-fw"}
        if link:
            d.update(link.state_fields())
        return d

    r = rep.Reporter(client, ob, dev, state_provider=state_fields,
                     now=lambda: T0 + 10**6, fleet_ack_ms=cfg.get("fleet_ack_ms", 15000))
    client.connect_cb = r.on_connect
    if link:
        link.attach(client, r)  # as main.py: the link first, then the reporter in front
    r.route(client)
    on_ack = r.on_ack

    def traced_ack(payload):
        taken = on_ack(payload)
        emit(ev="ack", taken=taken, payload=hexlify(payload).decode(), acked=ob.acked,
             depth=ob.depth, batches=r.batches, resends=r.resends, connects=client.connects)
        return taken

    r.on_ack = traced_ack
    client.start()
    if cfg.get("status_ms"):
        asyncio.create_task(status(cfg["status_ms"], r, ob, client, link))
    asyncio.create_task(r.run())
    await scanner(cfg, r, ob)
    while ob.depth:
        await asyncio.sleep_ms(20)
    emit(ev="drained", acked=ob.acked, reported=r.reported, batches=r.batches,
         resends=r.resends, ignored_acks=r.ignored_acks,
         dropped=ob.dropped, connects=client.connects, last_error=client.last_error)
    if cfg.get("exit_when_drained", True):
        await client.stop()
        return
    while True:
        await asyncio.sleep(1)


asyncio.run(main())
