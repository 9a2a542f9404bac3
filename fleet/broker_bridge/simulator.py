"""A lightweight gate simulator for tests and benchmarks: the device side of
docs/protocol.md with paho (scan batches, retained state with its Last Will,
command replies with chunked screenshots, blob fetches) that records every
control message it receives. Not the firmware: `greengate sim` runs the real
firmware; this one is cheap enough to run 10,000 of in one process.

Outbox mode (outbox=True) follows the firmware's reporting protocol 2
(docs/protocol.md 4.4): scan records stay in the outbox until the fleet's
ack on gg/v1/dev/{id}/ack covers them; the MQTT PUBACK deletes nothing. The
oldest unacked batch is resent after every (re)connect and when no ack came
within ack_timeout_s (doubling up to ack_timeout_max_s, +-20 % jitter)."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import cbor2
import paho.mqtt.client as mqtt

from . import topics
from .bridge import BrokerParams, make_client

LAST_WILL = bytes.fromhex("a101f4")  # {1: false}, exactly as the protocol fixes it
BATCH = 30                            # scans per batch (protocol 4.1)
REPORTING_PROTOCOL = 2                # state key 14: deletes records only on a fleet ack


def device_id(n: int) -> str:
    return f"gg-{n:012x}"


def scan_batch(dev: str, first_seq: int, n: int, *, now: int | None = None,
               pass_hash: bytes | None = None, verdict: bool = True, reason: int = 0,
               times: dict[int, int] | None = None) -> bytes:
    now = int(time.time()) if now is None else now
    scans = []
    for i in range(n):
        seq = first_seq + i
        now = times[seq] if times is not None else now
        h = pass_hash if pass_hash is not None else hashlib.sha256(f"{dev}/{seq}".encode()).digest()[:16]
        scans.append([seq, now, True, h, verdict, reason])
    return cbor2.dumps({1: dev, 2: scans, 3: now})


def signed_body(signed: bytes) -> dict:
    """Payload map of a signed control message (no signature check: tests check it)."""
    return cbor2.loads(cbor2.loads(signed).value[2])


class SimDevice:
    def __init__(self, dev: str, broker: BrokerParams, *, password: str | None = None,
                 auto_reply: bool = True, client_id: str | None = None, outbox: bool = False,
                 ack_timeout_s: float = 15.0, ack_timeout_max_s: float = 120.0,
                 window: int = 4) -> None:
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
        self.outbox = outbox
        if outbox:
            self._init_outbox(ack_timeout_s, ack_timeout_max_s, window)

    def control_filters(self) -> list[str]:
        d = self.device_id
        own = [topics.ack(d)] if self.outbox else []
        return own + [topics.command(d), topics.config(d), topics.blob(d), topics.TRUST, topics.REVOCATION, topics.DCC]

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connect_error = reason_code if reason_code.is_failure else None
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self.control_filters()])
            if self.outbox:
                with self._cond:  # after every (re)connect the unacked records go again at once
                    self.connects += 1
                    self._next = self.acked + 1
                    self._cond.notify_all()
        self._connected.set()

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        if self.outbox and msg.topic == topics.ack(self.device_id):
            self._on_ack(msg.payload)
            return
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
        if self.outbox:
            state[14] = REPORTING_PROTOCOL
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

    # -- outbox mode (reporting protocol 2) -------------------------------------------
    def _init_outbox(self, ack_timeout_s: float, ack_timeout_max_s: float, window: int) -> None:
        self._cond = threading.Condition(self._lock)
        self._times: dict[int, int] = {}    # the outbox: seq -> scan time
        self.last_seq = -1                  # highest seq recorded
        self.acked = -1                     # everything <= acked is deleted
        self.highest_sent = -1
        self._next = 0                      # next seq to send
        self.ack_timeout_s, self.ack_timeout_max_s, self.window = ack_timeout_s, ack_timeout_max_s, window
        self._wait_s = ack_timeout_s
        self._progress = time.monotonic()
        self.acks_valid = self.acks_ignored = self.resends = self.connects = 0
        self._closed = False
        self._sender = threading.Thread(target=self._send_loop, name=f"{self.device_id}-outbox",
                                        daemon=True)
        self._sender.start()

    def add_scans(self, n: int) -> None:
        """Record n scans (the gate's outbox keeps them until the fleet's ack)."""
        now = int(time.time())
        with self._cond:
            for _ in range(n):
                self.last_seq += 1
                self._times[self.last_seq] = now
            self._cond.notify_all()

    def outbox_depth(self) -> int:
        with self._lock:
            return len(self._times)

    def _on_ack(self, payload: bytes) -> None:
        """Device rule: (a, b) with a <= acked + 1 <= b <= highest sent: delete up
        to b; anything else is stale or forged and ignored."""
        try:
            m = cbor2.loads(payload)
            a, b = m[1], m[2]
            ok = type(a) is int and type(b) is int
        except Exception:  # garbage on our ack topic: ignore, like the firmware
            ok = False
        with self._cond:
            if not ok or not a <= self.acked + 1 <= b or b > self.highest_sent:
                self.acks_ignored += 1
                return
            for seq in range(self.acked + 1, b + 1):
                self._times.pop(seq, None)
            self.acked = b
            self._next = max(self._next, b + 1)
            self.acks_valid += 1
            self._wait_s = self.ack_timeout_s
            self._progress = time.monotonic()
            self._cond.notify_all()

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait(0.05)
                if self._closed:
                    return
                now = time.monotonic()
                if self.acked < self.highest_sent and now - self._progress > self._wait_s:
                    self._next = self.acked + 1  # no ack in time: the oldest unacked batch again
                    self._wait_s = min(self._wait_s * 2, self.ack_timeout_max_s) * random.uniform(0.8, 1.2)
                    self._progress = now
                    self.resends += 1
                batches = []
                while self.client.is_connected() and self._next <= self.last_seq and \
                        self._next - (self.acked + 1) < self.window * BATCH:
                    first = max(self._next, self.acked + 1)
                    n = min(BATCH, self.last_seq - first + 1)
                    batches.append(scan_batch(self.device_id, first, n, times=self._times))
                    if first == self.acked + 1:
                        self._progress = now
                    self._next = first + n
                    self.highest_sent = max(self.highest_sent, first + n - 1)
            for payload in batches:
                self.client.publish(topics.scans(self.device_id), payload, qos=1)

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker sends the Last Will."""
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        if self.outbox:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
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
