# MicroPython driver for the MQTT client tests: one MQTTClient, commands as
# JSON lines on stdin, events as JSON lines on stdout.
#   argv[1]: path of a JSON config file {"host", "port", "client_id", "keepalive", "user",
#            "password", "will": [topic, payload_hex, qos, retain],
#            "cafile", "server_hostname", "ack_timeout_ms", "qos0_slots",
#            "inflight", "backoff_min_ms", "backoff_max_ms", "max_packet"}
#   events: connected, message, oversize (a PUBLISH over max_packet: topic, size), ...
#   commands: {"op": "pub", "topic", "payload" (hex), "qos", "retain"}
#             {"op": "sub", "topic", "qos"}   {"op": "stats"}
#             {"op": "wait_ack", "pid"}        {"op": "stop"}
import asyncio
import json
import sys
from binascii import hexlify, unhexlify

from net.client import MQTTClient, tls_context


def emit(**kw):
    print(json.dumps(kw))


def on_message(topic, payload, retained):
    emit(ev="message", topic=topic, payload=hexlify(payload).decode(), retained=retained)


oversized = [0]


def on_oversize(topic, size, retained):
    # a PUBLISH over max_packet, dropped unread by the protocol layer
    oversized[0] += 1
    emit(ev="oversize", topic=topic, size=size, retained=retained)


def on_connect(client):
    # retry_ms: the wait before this connect; failures: sessions ended so far
    emit(ev="connected", n=client.connects, retry_ms=client.retry_ms,
         failures=client.failures)


async def wait_ack(client, pid):
    ok = await client.wait_puback(pid)
    emit(ev="acked", pid=pid, ok=ok)


async def main():
    # A JSON file: the unix port crashes on command-line arguments
    # longer than ~220 bytes ("FATAL: uncaught NLR").
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    will = cfg.get("will")
    if will:
        will = (will[0], unhexlify(will[1]), will[2], will[3])
    ssl = tls_context(cafile=cfg["cafile"]) if cfg.get("cafile") else None
    client = MQTTClient(
        cfg.get("client_id", "drv"), cfg["host"], cfg["port"],
        user=cfg.get("user"), password=cfg.get("password"),
        keepalive=cfg.get("keepalive", 60), will=will, ssl=ssl,
        server_hostname=cfg.get("server_hostname"),
        on_message=on_message, on_connect=on_connect,
        qos0_slots=cfg.get("qos0_slots", 8), inflight=cfg.get("inflight", 4),
        ack_timeout_ms=cfg.get("ack_timeout_ms", 10000),
        backoff_min_ms=cfg.get("backoff_min_ms", 100),
        backoff_max_ms=cfg.get("backoff_max_ms", 1000),
        **({"stable_ms": cfg["stable_ms"]} if "stable_ms" in cfg else {}),
        **({"max_packet": cfg["max_packet"]} if "max_packet" in cfg else {}))
    client.oversize_cb = on_oversize
    client.start()
    stdin = asyncio.StreamReader(sys.stdin)
    while True:
        line = await stdin.readline()
        if not line:
            break
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "pub":
            r = client.publish(cmd["topic"], unhexlify(cmd.get("payload", "")),
                               cmd.get("qos", 0), cmd.get("retain", False))
            emit(ev="queued", pid=r if cmd.get("qos", 0) else 0, ok=bool(r))
            if cmd.get("qos", 0) and r:
                asyncio.create_task(wait_ack(client, r))
        elif op == "sub":
            client.subscribe(cmd["topic"], cmd.get("qos", 1))
        elif op == "stats":
            emit(ev="stats", connected=client.connected, connects=client.connects,
                 failures=client.failures, dropped_qos0=client.dropped_qos0,
                 last_error=client.last_error, free_slots=client.free_slots(),
                 oversize=oversized[0])
        elif op == "stop":
            await client.stop()
            emit(ev="stopped")
            break


asyncio.run(main())
