"""A real mosquitto started from the configuration `greengate fleet
broker-config` generates (mosquitto_conf.py), and small MQTT probes for
attack tests against it."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from brokers import Mosquitto, free_port
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge.bridge import BrokerParams, make_client

BRIDGE_PW = "bridge-secret-password"


def start_generated(tmp_path, sessions, tls=None, plain=True) -> Mosquitto:
    port = free_port()
    with sessions() as db:
        accounts = mc.device_accounts(db)
    conf = mc.write_config(tmp_path / "broker", accounts, BRIDGE_PW, port=port, tls=tls,
                           bind="127.0.0.1", plain_listener=plain, run_as="root")
    m = Mosquitto(port=tls.port if (tls and not plain) else port, conf=conf,
                  log=tmp_path / "broker" / "mosquitto.log")
    return m.start()


def bridge_params(port: int, user: str = mc.BRIDGE_USER) -> BrokerParams:
    return BrokerParams(port=port, username=user, password=BRIDGE_PW)


class Probe:
    """One MQTT client that records its CONNACK, SUBACKs, messages and drops."""

    def __init__(self, port: int, username: str, password: str, client_id: str,
                 mqtt5: bool = False) -> None:
        self.connack: list = []
        self.subacks: dict[int, list[int]] = {}
        self.got: list[tuple[str, bytes]] = []
        self.drops = 0
        self._event = threading.Condition()
        if mqtt5:
            self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=mqtt.MQTTv5)
            self.c.username_pw_set(username, password)
        else:
            self.c = make_client(BrokerParams(port=port, username=username, password=password),
                                 client_id, clean_session=True)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.on_disconnect = self._on_disconnect
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_connect(self, _c, _u, _f, rc, _p) -> None:  # noqa: ANN001
        with self._event:
            self.connack.append(rc)
            self._event.notify_all()

    def _on_disconnect(self, _c, _u, _f, _rc, _p) -> None:  # noqa: ANN001
        self.drops += 1

    def _on_subscribe(self, _c, _u, mid, rcs, _p) -> None:  # noqa: ANN001
        with self._event:
            self.subacks[mid] = [r.value for r in rcs]
            self._event.notify_all()

    def connected(self, timeout: float = 10.0):  # noqa: ANN201 (a paho ReasonCode)
        """The CONNACK's reason code."""
        with self._event:
            if not self._event.wait_for(lambda: self.connack, timeout):
                raise TimeoutError("no CONNACK")
            return self.connack[0]

    def subscribe(self, topic: str, timeout: float = 10.0) -> int:
        """The SUBACK code of one QoS 1 subscription (refused: 0x80, MQTT 5 0x87)."""
        _, mid = self.c.subscribe(topic, 1)
        with self._event:
            if not self._event.wait_for(lambda: mid in self.subacks, timeout):
                raise TimeoutError(f"no SUBACK for {topic}")
            return self.subacks[mid][0]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def device_filters_outside(own: str, other: str) -> list[str]:
    """What a device must never be granted (docs/protocol.md section 2.1)."""
    return ["$share/greengate/gg/v1/dev/+/scans", "$share/x/gg/v1/dev/+/state",
            f"$share/x/gg/v1/dev/{own}/cmd", "$share/greengate/gg/v1/fleet/trust",
            "gg/v1/#", "gg/v1/dev/+/cmd", "gg/v1/dev/+/scans", f"gg/v1/dev/{own}/#",
            f"gg/v1/dev/{own}/+", "+/+/+/+/+", "#", "$SYS/#", "$CONTROL/dynamic-security/#",
            f"gg/v1/dev/{other}/cmd", f"gg/v1/dev/{other}/config", f"gg/v1/dev/{other}/ack",
            f"gg/v1/dev/{other}/scans", f"gg/v1/dev/{own}/scans", f"gg/v1/dev/{other}/ota"]

