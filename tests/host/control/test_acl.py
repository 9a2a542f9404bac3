"""The ACL of docs/protocol.md section 2.1 on a real mosquitto: a device reads
only its own and fleet-wide topics and publishes only on its own topics."""

import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from brokers import mosquitto

ACL = """
pattern write gg/v1/dev/%u/scans
pattern write gg/v1/dev/%u/state
pattern write gg/v1/dev/%u/reply
pattern write gg/v1/dev/%u/fetch
pattern read  gg/v1/dev/%u/cmd
pattern read  gg/v1/dev/%u/config
pattern read  gg/v1/dev/%u/blob
pattern read  gg/v1/fleet/trust
pattern read  gg/v1/fleet/revocation

user fleet-bridge
topic readwrite gg/v1/#
"""
A, B = "gg-aaaaaaaaaaaa", "gg-bbbbbbbbbbbb"


@pytest.fixture
def broker(tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), A, "pa"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), B, "pb"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "fleet-bridge", "pf"], check=True)
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    b = mosquitto(tmp_path / "m", extra_conf=f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}\n")
    b.start()
    yield b
    b.stop()


class Client:
    def __init__(self, port, user, password):
        self.got = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)
        self.c.username_pw_set(user, password)
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def sub(self, *topics):
        for t in topics:
            self.c.subscribe(t, 1)

    def pub(self, topic, payload, retain=False):
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def test_device_acl(broker):
    fleet = Client(broker.port, "fleet-bridge", "pf")
    fleet.sub("gg/v1/dev/+/scans", "gg/v1/dev/+/state")
    for dev in (A, B):
        fleet.pub(f"gg/v1/dev/{dev}/config", f"cfg-{dev}".encode(), retain=True)
    fleet.pub("gg/v1/fleet/trust", b"trust", retain=True)
    dev = Client(broker.port, A, "pa")
    dev.sub(f"gg/v1/dev/{A}/config", f"gg/v1/dev/{B}/config", "gg/v1/fleet/trust", "gg/v1/dev/+/cmd")
    time.sleep(0.5)
    dev.pub(f"gg/v1/dev/{A}/scans", b"mine")
    dev.pub(f"gg/v1/dev/{B}/scans", b"forged")       # silently dropped by the broker
    dev.pub("gg/v1/fleet/trust", b"evil", retain=True)  # dropped too
    fleet.pub(f"gg/v1/dev/{B}/cmd", b"cmd-b")
    time.sleep(1.0)
    topics = sorted(t for t, _ in dev.got)
    assert topics == [f"gg/v1/dev/{A}/config", "gg/v1/fleet/trust"]
    assert (f"gg/v1/dev/{A}/scans", b"mine") in fleet.got
    assert all(p != b"forged" for _, p in fleet.got)
    check = Client(broker.port, B, "pb")
    check.sub("gg/v1/fleet/trust")
    time.sleep(0.5)
    assert check.got == [("gg/v1/fleet/trust", b"trust")]
    for c in (fleet, dev, check):
        c.close()
