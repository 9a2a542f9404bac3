"""A lightweight gate simulator for tests and benchmarks: speaks the device
side of docs/protocol.md with paho (scan batches in the firmware's CBOR form,
retained state with a Last Will, command replies) and records every control
message it receives. Not firmware: the real device code lives in firmware/."""

from __future__ import annotations

import threading
import time

import cbor2
import paho.mqtt.client as mqtt

from . import topics
from .bridge import BrokerParams, make_client


def scan_batch(device_id: str, first_seq: int, n: int, *, now: int | None = None,
               pass_hash: bytes | None = None, verdict: bool = True, reason: int = 0) -> bytes:
    now = int(time.time()) if now is None else now
    scans = []
    for i in range(n):
        seq = first_seq + i
        h = pass_hash if pass_hash is not None else seq.to_bytes(8, "big") * 2
        scans.append({"seq": seq, "time": now, "time_valid": True, "pass": h,
                      "verdict": verdict, "reason": reason})
    return cbor2.dumps({"device": device_id, "scans": scans})


class SimDevice:
    def __init__(self, device_id: str, broker: BrokerParams, *, site_id: int | None = None,
                 password: str | None = None, auto_reply: bool = True,
                 client_id: str | None = None) -> None:
        self.device_id, self.site_id = device_id, site_id
        params = BrokerParams(**{**broker.__dict__, "username": device_id if password else broker.username,
                                 "password": password or broker.password})
        self.params = params
        self.client = make_client(params, client_id or f"sim-{device_id}", clean_session=True)
        self.client.will_set(topics.state(device_id), cbor2.dumps({"online": False}), qos=1, retain=True)
        self.received: dict[str, list[bytes]] = {}
        self.suback: list = []
        self.auto_reply = auto_reply
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.suback.append([r.value for r in rcs])

    def control_filters(self) -> list[str]:
        subs = [topics.command(self.device_id), topics.TRUST, topics.REVOCATION_SNAPSHOT,
                topics.REVOCATION_DELTA]
        if self.site_id is not None:
            subs.append(topics.site_config(self.site_id))
        return subs

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            self.connect_error = reason_code
            self._connected.set()
            return
        self.connect_error = None
        client.subscribe([(t, 1) for t in self.control_filters()])
        self._connected.set()

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        with self._lock:
            self.received.setdefault(msg.topic, []).append(msg.payload)
        if self.auto_reply and msg.topic == topics.command(self.device_id):
            self._reply(msg.payload)

    def _reply(self, signed: bytes) -> None:
        import cbor2 as c

        sign1 = c.loads(signed)
        body = c.loads(sign1.value[2])[6]
        reply = {"id": body["id"], "ok": True, "detail": {"command": body["command"]}}
        if body["command"] == "screenshot":
            reply["png"] = _tiny_png()
        self.client.publish(topics.reply(self.device_id), c.dumps(reply), qos=1)

    def connect(self, timeout: float = 10.0) -> "SimDevice":
        self.client.connect(self.params.host, self.params.port, keepalive=5)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError("simulator could not connect")
        return self

    def publish_state(self, **fields) -> None:
        self.client.publish(topics.state(self.device_id), cbor2.dumps({"online": True, **fields}),
                            qos=1, retain=True).wait_for_publish(10)

    def publish_scans(self, first_seq: int, n: int, **kw) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topics.scans(self.device_id),
                                   scan_batch(self.device_id, first_seq, n, **kw), qos=1)

    def messages(self, topic: str) -> list[bytes]:
        with self._lock:
            return list(self.received.get(topic, []))

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker sends the Last Will."""
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _tiny_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 128, 0)).save(buf, format="PNG")
    return buf.getvalue()
