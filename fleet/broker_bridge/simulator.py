"""A lightweight gate simulator for tests and benchmarks: the device side of
docs/protocol.md with paho (scan batches, retained state with its Last Will,
command replies with chunked screenshots, blob fetches) that records every
control message it receives. Not the firmware: `greengate sim` runs the real
firmware; this one is cheap enough to run 10,000 of in one process."""

from __future__ import annotations

import hashlib
import threading
import time

import cbor2
import paho.mqtt.client as mqtt

from . import topics
from .bridge import BrokerParams, make_client

LAST_WILL = bytes.fromhex("a101f4")  # {1: false}, exactly as the protocol fixes it


def device_id(n: int) -> str:
    return f"gg-{n:012x}"


def scan_batch(dev: str, first_seq: int, n: int, *, now: int | None = None,
               pass_hash: bytes | None = None, verdict: bool = True, reason: int = 0) -> bytes:
    now = int(time.time()) if now is None else now
    scans = []
    for i in range(n):
        seq = first_seq + i
        h = pass_hash if pass_hash is not None else hashlib.sha256(f"{dev}/{seq}".encode()).digest()[:16]
        scans.append([seq, now, True, h, verdict, reason])
    return cbor2.dumps({1: dev, 2: scans, 3: now})


def signed_body(signed: bytes) -> dict:
    """Payload map of a signed control message (no signature check: tests check it)."""
    return cbor2.loads(cbor2.loads(signed).value[2])


class SimDevice:
    def __init__(self, dev: str, broker: BrokerParams, *, password: str | None = None,
                 auto_reply: bool = True, client_id: str | None = None) -> None:
        self.device_id = dev
        self.params = BrokerParams(**{**broker.__dict__, "username": dev if password else broker.username,
                                      "password": password or broker.password})
        self.client = make_client(self.params, client_id or dev, clean_session=True)
        self.client.will_set(topics.state(dev), LAST_WILL, qos=1, retain=True)
        self.received: dict[str, list[bytes]] = {}
        self.suback: list = []
        self.auto_reply = auto_reply
        self.connect_error = None
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.suback.append([r.value for r in rcs])

    def control_filters(self) -> list[str]:
        d = self.device_id
        return [topics.command(d), topics.config(d), topics.blob(d), topics.TRUST, topics.REVOCATION]

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connect_error = reason_code if reason_code.is_failure else None
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self.control_filters()])
        self._connected.set()

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        with self._lock:
            self.received.setdefault(msg.topic, []).append(msg.payload)
        if self.auto_reply and msg.topic == topics.command(self.device_id):
            self._reply(msg.payload)

    def _reply(self, signed: bytes) -> None:
        m = signed_body(signed)
        version, code, args = m[2], m[6][1], m[6][2]
        pub = lambda d: self.client.publish(topics.reply(self.device_id), cbor2.dumps(d), qos=1)  # noqa: E731
        if code == 5:  # screenshot: PNG in chunks
            png, size = _tiny_png(), args.get(1, 768)
            chunks = [png[i:i + size] for i in range(0, len(png), size)]
            for i, c in enumerate(chunks):
                reply = {1: version, 2: 0, 3: "ok", 4: [i, len(chunks)], 5: c}
                if i == 0:
                    reply[6] = hashlib.sha256(png).digest()
                pub(reply)
        else:
            pub({1: version, 2: 0, 3: "ok"})

    def connect(self, timeout: float = 10.0) -> "SimDevice":
        self.client.connect(self.params.host, self.params.port, keepalive=5)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError("simulator could not connect")
        return self

    def publish_state(self, *, firmware: str = "sim", applied: dict | None = None,
                      outbox: int = 0, clock: int | None = None) -> None:
        state = {1: True, 2: firmware, 3: applied or {}, 4: outbox, 5: 0, 6: clock is not None}
        if clock is not None:
            state[8] = clock
        self.client.publish(topics.state(self.device_id), cbor2.dumps(state), qos=1,
                            retain=True).wait_for_publish(10)

    def publish_scans(self, first_seq: int, n: int, **kw) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topics.scans(self.device_id),
                                   scan_batch(self.device_id, first_seq, n, **kw), qos=1)

    def fetch(self, ref: dict, timeout: float = 15.0) -> bytes:
        """Fetch a blob the way a device does (requests of up to 16 chunks)."""
        sha, size, chunk = ref[1], ref[2], ref[3]
        count = (size + chunk - 1) // chunk
        got: dict[int, bytes] = {}
        deadline = time.monotonic() + timeout
        while len(got) < count:
            first = len(got)
            self.client.publish(topics.fetch(self.device_id),
                                cbor2.dumps({1: sha, 2: first, 3: 16}), qos=1)
            want = min(count, first + 16)
            while len(got) < want:
                if time.monotonic() > deadline:
                    raise TimeoutError("blob fetch timed out")
                for p in self.messages(topics.blob(self.device_id)):
                    m = cbor2.loads(p)
                    if m[1] == sha[:8]:
                        got[m[2]] = m[4]
                time.sleep(0.02)
        data = b"".join(got[i] for i in range(count))
        if hashlib.sha256(data).digest() != sha:
            raise ValueError("blob hash mismatch")
        return data

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
    # noisy enough to need several chunks
    noise = b"".join(hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(128))
    img = Image.frombytes("L", (64, 64), noise)
    img.save(buf, format="PNG")
    return buf.getvalue()
