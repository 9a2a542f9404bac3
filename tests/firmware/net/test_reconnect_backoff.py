"""Finding 7 (issue 10): a retained control message larger than the
device's packet cap is refused (ProtocolError) and the session dies right
after CONNACK; the broker sends it again at every connect. The gate used to
reset its backoff after every CONNACK and reconnected ~80 times in 30 s.
Now the backoff only starts again from the minimum after a connection that
stayed up `stable_ms`: each quick death doubles the wait (with jitter).

Count-based, under real MicroPython against a real mosquitto: the waits the
client chose before its first K reconnects are read back and must grow as
the backoff says, whatever the machine's speed."""

from __future__ import annotations

import paho.mqtt.publish as publish

from net_helpers import MpyProcess

DEVICE = "gg-0000000000d1"
TOPIC = f"gg/v1/dev/{DEVICE}/config"
MIN_MS, MAX_MS = 100, 1600
K = 7


def test_rejected_retained_message_backs_off(mosquitto_broker, tmp_path):
    port = mosquitto_broker.port
    # 5 KiB: over the device's 4,352-byte packet cap (net/mqtt.py MAX_PACKET)
    publish.single(TOPIC, b"\x00" * 5000, qos=1, retain=True, hostname="127.0.0.1", port=port)
    drv = MpyProcess("mqtt_driver.py", {"host": "127.0.0.1", "port": port, "client_id": DEVICE,
                                        "backoff_min_ms": MIN_MS, "backoff_max_ms": MAX_MS,
                                        "keepalive": 30}, tmp_path)
    try:
        first = drv.wait_for("connected", timeout=30)
        assert first["n"] == 1
        drv.send(op="sub", topic=TOPIC, qos=1)
        connects = [drv.wait_for("connected", timeout=60, n=n) for n in range(2, K + 1)]
        stats = drv.call(op="stats")
        assert "exceeds" in stats["last_error"]  # refused for its size, every time
        for i, ev in enumerate(connects, start=1):
            # before the (i+1)-th connect, i sessions had died young: the
            # wait is d/2..d with d = MIN << (i - 1), capped at MAX
            d = min(MIN_MS << (i - 1), MAX_MS)
            assert ev["failures"] == i, ev
            assert d // 2 <= ev["retry_ms"] <= d, (i, ev)
        # the cap is reached and kept: no reset to the minimum
        assert all(ev["retry_ms"] >= MAX_MS // 2 for ev in connects[-2:])
    finally:
        drv.kill()
