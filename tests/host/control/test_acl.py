"""The ACL of docs/protocol.md section 2.1 on a real mosquitto, from the
configuration `greengate fleet broker-config` generates: a device reads only
its own and fleet-wide topics (anything else is refused in the SUBACK) and
publishes only on its own topics."""

import os
import time

import paho.mqtt.client as mqtt
import pytest

from brokers import Mosquitto, free_port
from fleet.broker_bridge import mosquitto_conf as mc

A, B = "gg-aaaaaaaaaaaa", "gg-bbbbbbbbbbbb"
FLEET = mc.BRIDGE_USER


@pytest.fixture
def broker(tmp_path):
    accounts = [mc.DeviceAccount(A, mc.password_hash("pa"), None),
                mc.DeviceAccount(B, mc.password_hash("pb"), None)]
    port = free_port()
    conf = mc.write_config(tmp_path / "m", accounts, "pf", port=port, bind="127.0.0.1",
                           run_as="root" if os.geteuid() == 0 else None)
    b = Mosquitto(port=port, conf=conf, log=tmp_path / "m" / "mosquitto.log").start()
    yield b
    b.stop()


class Client:
    def __init__(self, port, user, password):
        self.got = []
        self.granted = {}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)  # id = username
        self.c.username_pw_set(user, password)
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.on_subscribe = lambda _c, _u, mid, rcs, _p: self.granted.__setitem__(mid, rcs[0].value)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def sub(self, *topics):
        """The SUBACK code of each (0x80 = refused)."""
        mids = [self.c.subscribe(t, 1)[1] for t in topics]
        deadline = time.monotonic() + 10
        while not all(m in self.granted for m in mids) and time.monotonic() < deadline:
            time.sleep(0.02)
        return [self.granted.get(m) for m in mids]

    def pub(self, topic, payload, retain=False):
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def test_device_acl(broker):
    fleet = Client(broker.port, FLEET, "pf")
    fleet.sub("gg/v1/dev/+/scans", "gg/v1/dev/+/state")
    for dev in (A, B):
        fleet.pub(f"gg/v1/dev/{dev}/config", f"cfg-{dev}".encode(), retain=True)
    fleet.pub("gg/v1/fleet/trust", b"trust", retain=True)
    dev = Client(broker.port, A, "pa")
    assert dev.sub(f"gg/v1/dev/{A}/config", f"gg/v1/dev/{B}/config", "gg/v1/fleet/trust",
                   "gg/v1/dev/+/cmd", "$share/greengate/gg/v1/dev/+/scans") == [1, 0x80, 1, 0x80, 0x80]
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


def test_gate_reads_the_dcc_trust_list_and_cannot_write_it(broker):
    fleet = Client(broker.port, FLEET, "pf")
    fleet.pub("gg/v1/fleet/dcc", b"dcc-table", retain=True)
    dev = Client(broker.port, A, "pa")
    assert dev.sub("gg/v1/fleet/dcc", "gg/v1/fleet/+") == [1, 0x80]
    dev.pub("gg/v1/fleet/dcc", b"evil", retain=True)  # dropped by the broker
    time.sleep(1.0)
    assert dev.got == [("gg/v1/fleet/dcc", b"dcc-table")]
    check = Client(broker.port, B, "pb")
    check.sub("gg/v1/fleet/dcc")
    time.sleep(0.5)
    assert check.got == [("gg/v1/fleet/dcc", b"dcc-table")]
    for c in (fleet, dev, check):
        c.close()
