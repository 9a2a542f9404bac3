"""A lightweight gate simulator for the fleet benchmarks: thousands of devices
in one asyncio process, each with its own MQTT 3.1.1 connection (its own
client id, clean session, Last Will on its state topic), speaking
docs/protocol.md:

- scan report batches (4.1, CBOR, QoS 1) with a per-device in-flight window;
- retained device state (4.2) on connect and after every applied message;
- subscriptions to .../cmd, .../config, .../blob, gg/v1/fleet/trust and
  gg/v1/fleet/revocation right after CONNACK;
- signed control messages checked like firmware/control/envelope.py does
  (identical bytes -> no-op, signature with
  greengate.control.envelope.open_message, kind, scope, rollback / replay,
  expiry), then blobs fetched in windows of 16 chunks like
  firmware/control/service.py (re-asked after 10 s without progress,
  SHA-256 checked) before the message is committed and the state re-sent.

Not the firmware (`greengate sim` runs that): no decisions, no flash. Why a
hand-written MQTT client: paho costs a thread or a socket loop per client;
here one asyncio.Protocol per connection shares one event loop, ~2 KB of
state per device. Only what a gate needs: CONNECT (+will), SUBSCRIBE,
PUBLISH QoS 0/1 both ways, PUBACK, PINGREQ, DISCONNECT.

    sim = DeviceSim("127.0.0.1", port, ids, fleet_keys=[pub], preload=[snapshot])
    await sim.connect_all()
    await sim.devices[ids[0]].publish_scans(0, 30)
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import cbor2

from greengate.control import envelope

ROOT = "gg/v1"
TRUST = f"{ROOT}/fleet/trust"
REVOCATION = f"{ROOT}/fleet/revocation"
LAST_WILL = b"\xa1\x01\xf4"  # {1: false}, protocol 4.2

KIND_CONFIG, KIND_TRUST, KIND_REVOCATION, KIND_COMMAND = 1, 2, 3, 4
# firmware/verify/reasons.py (tests/bench checks these against it)
CTRL_UNSIGNED, CTRL_SIGNATURE, CTRL_ROLLBACK, CTRL_REPLAY = 40, 41, 42, 43
CTRL_EXPIRED, CTRL_MALFORMED, CTRL_SCOPE = 44, 45, 46
ALLOWED_SCOPES = {KIND_CONFIG: (1, 2), KIND_TRUST: (0, 1), KIND_REVOCATION: (0, 1), KIND_COMMAND: (2,)}

FETCH_WINDOW = 16
FETCH_RETRY_S = 10.0

# MQTT 3.1.1 packet types (high nibble of the first byte)
CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP = 2, 3, 4, 9, 13


def device_id(n: int) -> str:
    return f"gg-{n:012x}"


def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varlen(len(body)) + body


def connect_packet(client_id: str, keepalive: int, will_topic: str, will: bytes,
                   username: str | None = None, password: str | None = None) -> bytes:
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    payload = _str(client_id) + _str(will_topic) + _str(will)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    return _packet(0x10, _str("MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive) + payload)


def publish_packet(topic: str, payload: bytes, qos: int, retain: bool, pid: int = 0) -> bytes:
    body = _str(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return _packet(0x30 | (qos << 1) | (1 if retain else 0), body)


def scan_batch(dev: str, first_seq: int, n: int, now: int, verdict: bool = True, reason: int = 0) -> bytes:
    """Protocol 4.1: {1: device id, 2: [[seq, time, time_valid, pass_hash, verdict, reason]], 3: sent_at}."""
    scans = [[first_seq + i, now, True, hashlib.sha256(b"%s/%d" % (dev.encode(), first_seq + i)).digest()[:16],
              verdict, reason] for i in range(n)]
    return cbor2.dumps({1: dev, 2: scans, 3: now})


@dataclass
class SimStats:
    connected: int = 0
    disconnected: int = 0
    verified: int = 0           # signatures checked
    noops: int = 0              # identical retained re-deliveries
    refused: dict = field(default_factory=dict)  # CTRL_* reason -> count
    applied: int = 0
    fetch_requests: int = 0
    chunks: int = 0
    blobs: int = 0
    published: int = 0
    acked: int = 0
    fleet_acks: int = 0         # end-to-end acks received (protocol 4.4)
    fleet_acks_ignored: int = 0


class _Conn(asyncio.Protocol):
    """Frames MQTT packets for one device."""

    __slots__ = ("dev", "buf", "transport")

    def __init__(self, dev: "SimDevice") -> None:
        self.dev = dev
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport
        self.dev._on_transport(transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, n = 0, len(buf)
        while n - pos >= 2:
            length, mult, i = 0, 1, pos + 1
            while True:
                if i >= n:
                    break
                b = buf[i]
                length += (b & 0x7F) * mult
                mult <<= 7
                i += 1
                if not b & 0x80:
                    break
            if b & 0x80 or i + length > n:  # header or body incomplete
                break
            self.dev._on_packet(buf[pos], bytes(buf[i:i + length]))
            pos = i + length
        if pos:
            del buf[:pos]

    def connection_lost(self, exc) -> None:  # noqa: ANN001
        self.dev._on_lost()


class _Blob:
    """One blob being fetched (firmware control/blob.py BlobReceiver, in RAM)."""

    __slots__ = ("ref", "sha", "count", "next", "parts", "last_progress")

    def __init__(self, ref: dict) -> None:
        self.ref = ref
        self.sha = ref[1]
        self.count = (ref[2] + ref[3] - 1) // ref[3]
        self.next = 0
        self.parts: list[bytes] = []
        self.last_progress = time.monotonic()


class SimDevice:
    OWN_TOPICS = ("cmd", "config", "blob")  # QoS 1 subscriptions under gg/v1/dev/{id}/

    def __init__(self, sim: "DeviceSim", dev: str, site_id: str | None) -> None:
        self.sim = sim
        self.id = dev
        self.site_id = site_id
        self.prefix = f"{ROOT}/dev/{dev}/"
        self.transport: asyncio.Transport | None = None
        self.connected = asyncio.get_running_loop().create_future()
        self._pid = 0
        self._inflight: dict[int, asyncio.Future] = {}
        self._window: asyncio.Semaphore | None = None
        self.applied: dict[int, int] = {}         # kind -> version (state key 3)
        self.digests: dict[int, bytes] = {}       # kind -> SHA-256(bytes)[:16]
        self.applied_at: dict[int, float] = {}    # kind -> time.time() of the last commit
        self.received_at: dict[int, float] = {}   # kind -> time.time() the last message arrived
        self.have: set[bytes] = set(sim.preload)  # blob sha256s on "flash"
        self.pending: dict[int, envelope.Opened] = {}
        self.pending_raw: dict[int, bytes] = {}
        self.rx: _Blob | None = None
        self.last_error: list | None = None
        self.booted = time.monotonic()
        self.last_tx = 0.0
        self.fleet_acked = -1                     # highest seq the fleet has acked (4.4)
        self.highest_sent = -1
        self.all_acked: asyncio.Future | None = None  # set when fleet_acked reaches .ack_goal
        self.ack_goal = -1

    # -- MQTT ------------------------------------------------------------------
    def _on_transport(self, transport) -> None:  # noqa: ANN001
        self.transport = transport
        self._send(connect_packet(self.id, self.sim.keepalive, self.prefix + "state", LAST_WILL,
                                  self.sim.username_for(self.id), self.sim.password_for(self.id)))

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_tx = time.monotonic()

    def _next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _on_lost(self) -> None:
        self.transport = None
        self.sim.stats.disconnected += 1
        for f in self._inflight.values():
            if not f.done():
                f.set_exception(ConnectionError("connection lost"))
        self._inflight.clear()
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("connection lost before CONNACK"))

    def _on_packet(self, first: int, body: bytes) -> None:
        ptype = first >> 4
        if ptype == PUBLISH:
            qos = (first >> 1) & 3
            tlen = (body[0] << 8) | body[1]
            topic = body[2:2 + tlen].decode()
            pos = 2 + tlen
            if qos:
                pid = (body[pos] << 8) | body[pos + 1]
                pos += 2
                self._send(b"\x40\x02" + struct.pack(">H", pid))
            self._on_message(topic, body[pos:])
        elif ptype == PUBACK:
            f = self._inflight.pop((body[0] << 8) | body[1], None)
            self.sim.stats.acked += 1
            if f is not None and not f.done():
                f.set_result(time.monotonic())
        elif ptype == CONNACK:
            if body[1] != 0:
                self.connected.set_exception(ConnectionRefusedError(f"CONNACK return code {body[1]}"))
                return
            self.sim.stats.connected += 1
            subs = [self.prefix + t for t in self.OWN_TOPICS] + [TRUST, REVOCATION]
            pid = self._next_pid()
            self._send(_packet(0x82, struct.pack(">H", pid) + b"".join(_str(t) + b"\x01" for t in subs)
                               + _str(self.prefix + "ack") + b"\x00"))
        elif ptype == SUBACK:
            if any(b == 0x80 for b in body[2:]):
                self.connected.set_exception(PermissionError("SUBACK refused a subscription"))
                return
            self.publish_state()
            if not self.connected.done():
                self.connected.set_result(True)
        # PINGRESP: nothing to do

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> asyncio.Future | None:
        self.sim.stats.published += 1
        if not qos:
            self._send(publish_packet(topic, payload, 0, retain))
            return None
        pid = self._next_pid()
        fut = asyncio.get_running_loop().create_future()
        self._inflight[pid] = fut
        self._send(publish_packet(topic, payload, 1, retain, pid))
        return fut

    def ping(self) -> None:
        self._send(b"\xc0\x00")

    def close(self) -> None:
        if self.transport is not None:
            self._send(b"\xe0\x00")
            self.transport.close()

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker sends the Last Will."""
        if self.transport is not None:
            self.transport.abort()

    # -- device -> fleet ---------------------------------------------------------
    def state(self) -> dict:
        fetching = [self.rx.sha, self.rx.next, self.rx.count] if self.rx else None
        return {1: True, 2: "devsim", 3: dict(self.applied), 4: 0, 5: 0, 6: True, 7: 9600,
                8: int(time.time()), 9: int(time.monotonic() - self.booted), 10: 0, 11: 0,
                12: self.last_error, 13: fetching, 14: 2}

    def publish_state(self) -> asyncio.Future | None:
        return self.publish(self.prefix + "state", cbor2.dumps(self.state()), 1, True)

    async def publish_scans(self, first_seq: int, n: int, now: int | None = None) -> None:
        """One scan batch (QoS 1); waits for a free slot in the in-flight window,
        returns once it is sent (await the result of send_scans for the PUBACK)."""
        await self.send_scans(first_seq, n, now)

    async def send_scans(self, first_seq: int, n: int, now: int | None = None) -> asyncio.Future:
        if self._window is None:
            self._window = asyncio.Semaphore(self.sim.inflight)
        await self._window.acquire()
        fut = self.publish(self.prefix + "scans",
                           scan_batch(self.id, first_seq, n, int(time.time()) if now is None else now))
        self.highest_sent = max(self.highest_sent, first_seq + n - 1)
        fut.add_done_callback(lambda _f: self._window.release())
        return fut

    # -- fleet -> device -----------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == REVOCATION:
            self._control(KIND_REVOCATION, payload)
        elif topic == TRUST:
            self._control(KIND_TRUST, payload)
        elif topic.startswith(self.prefix):
            leaf = topic[len(self.prefix):]
            if leaf == "ack":
                self._on_ack(payload)
            elif leaf == "blob":
                self._on_chunk(payload)
            elif leaf == "config":
                self._control(KIND_CONFIG, payload)
            elif leaf == "cmd":
                self._control(KIND_COMMAND, payload)
            else:
                self.on_own(leaf, payload)

    def on_own(self, leaf: str, payload: bytes) -> None:
        """A message on another of OWN_TOPICS (subclasses: bench/otasim.py)."""

    def _on_ack(self, payload: bytes) -> None:
        """The firmware's rule (protocol 4.4): (a, b) with a <= acked + 1 <= b <=
        highest sent moves the outbox; any other ack is stale or forged."""
        try:
            m = cbor2.loads(payload)
            a, b = m[1], m[2]
        except Exception:  # garbage on the ack topic: ignored like a gate does
            a = b = -2
        if type(a) is int and type(b) is int and a <= self.fleet_acked + 1 <= b <= self.highest_sent:
            self.fleet_acked = b
            self.sim.stats.fleet_acks += 1
            if self.all_acked is not None and b >= self.ack_goal and not self.all_acked.done():
                self.all_acked.set_result(time.monotonic())
        else:
            self.sim.stats.fleet_acks_ignored += 1

    def expect_acks(self, last_seq: int) -> asyncio.Future:
        """A future done when the fleet has acked every seq up to last_seq."""
        self.ack_goal = last_seq
        self.all_acked = asyncio.get_running_loop().create_future()
        if self.fleet_acked >= last_seq:
            self.all_acked.set_result(time.monotonic())
        return self.all_acked

    def _refuse(self, kind: int, reason: int, version: int = 0) -> None:
        self.last_error = [kind, reason, version]
        self.sim.stats.refused[reason] = self.sim.stats.refused.get(reason, 0) + 1
        if kind == KIND_COMMAND:
            self.publish(self.prefix + "reply", cbor2.dumps({1: version, 2: reason, 3: "refused"}))
        self.publish_state()

    def _control(self, kind: int, data: bytes) -> None:
        """firmware/control/envelope.verify_message's order of checks."""
        if not data:
            return  # retained message cleared
        self.received_at[kind] = time.time()
        dig = envelope.digest(data)
        if self.digests.get(kind) == dig:
            self.sim.stats.noops += 1
            return
        self.sim.stats.verified += 1
        try:
            msg = envelope.open_message(data, self.sim.fleet_keys)
        except ValueError as e:
            return self._refuse(kind, CTRL_SIGNATURE if "signature" in str(e) else CTRL_UNSIGNED)
        except Exception:  # noqa: BLE001 garbage CBOR
            return self._refuse(kind, CTRL_UNSIGNED)
        if msg.kind != kind or type(msg.version) is not int:
            return self._refuse(kind, CTRL_MALFORMED)
        scope = list(msg.scope) if isinstance(msg.scope, (list, tuple)) else [None, None]
        if scope[0] not in ALLOWED_SCOPES[kind] or (scope[0] == 2 and scope[1] != self.id) or (
                scope[0] == 1 and scope[1] != self.site_id):
            return self._refuse(kind, CTRL_SCOPE, msg.version)
        have = self.applied.get(kind)
        if have is not None and msg.version < have:
            return self._refuse(kind, CTRL_ROLLBACK, msg.version)
        if have is not None and msg.version == have:
            return self._refuse(kind, CTRL_REPLAY, msg.version)
        if time.time() > msg.valid_until:
            return self._refuse(kind, CTRL_EXPIRED, msg.version)
        if kind == KIND_COMMAND:
            self._commit(kind, msg, dig)
            self.publish(self.prefix + "reply", cbor2.dumps({1: msg.version, 2: 0, 3: "ok"}))
            return
        self.pending[kind] = msg
        self.pending_raw[kind] = dig
        self._next_fetch()

    def _refs(self, msg: envelope.Opened) -> list[dict]:
        body = msg.body if isinstance(msg.body, dict) else {}
        if msg.kind == KIND_REVOCATION:
            refs = [body.get(1), body.get(2)]
        elif msg.kind == KIND_CONFIG:
            refs = [body.get(6)]
        else:
            refs = []
        return [r for r in refs if r is not None]

    def _next_fetch(self) -> None:
        """Commit pending messages whose blobs are all here; fetch the next missing one."""
        wanted: list[dict] = []
        for kind in sorted(self.pending):
            msg = self.pending[kind]
            missing = [r for r in self._refs(msg) if r[1] not in self.have]
            if missing:
                wanted += missing
            else:
                del self.pending[kind]
                self._commit(kind, msg, self.pending_raw.pop(kind))
        if self.rx is not None and any(r[1] == self.rx.sha for r in wanted):
            return
        self.rx = None
        self.sim._fetching.discard(self)
        if wanted:
            self.rx = _Blob(wanted[0])
            self.sim._fetching.add(self)
            self._request()

    def _request(self) -> None:
        rx = self.rx
        rx.last_progress = time.monotonic()
        self.sim.stats.fetch_requests += 1
        self.publish(self.prefix + "fetch", cbor2.dumps({1: rx.sha, 2: rx.next, 3: FETCH_WINDOW}))

    def _on_chunk(self, payload: bytes) -> None:
        rx = self.rx
        if rx is None:
            return
        try:
            m = cbor2.loads(payload)
            bid, index, count, data = m[1], m[2], m[3], m[4]
        except Exception:  # noqa: BLE001 a bad chunk is ignored; the retry timer re-asks
            return
        if bid != rx.sha[:8] or index != rx.next or count != rx.count or not isinstance(data, bytes):
            return  # another blob, a duplicate or a gap
        self.sim.stats.chunks += 1
        rx.parts.append(data)
        rx.next += 1
        rx.last_progress = time.monotonic()
        if rx.next < rx.count:
            if rx.next % FETCH_WINDOW == 0:
                self._request()
            return
        blob = b"".join(rx.parts)
        self.rx = None
        self.sim._fetching.discard(self)
        if hashlib.sha256(blob).digest() != rx.sha or len(blob) != rx.ref[2]:
            self.last_error = [0, CTRL_MALFORMED, 0]
            self.rx = _Blob(rx.ref)  # start over
            self._request()
            return
        self.sim.stats.blobs += 1
        self.sim.blobs.setdefault(rx.sha, blob)  # content-addressed, shared by the simulated devices
        self.have.add(rx.sha)
        self._next_fetch()

    def retry_fetch(self, now: float) -> None:
        if self.rx is not None and now - self.rx.last_progress >= FETCH_RETRY_S:
            self._request()

    def _commit(self, kind: int, msg: envelope.Opened, dig: bytes) -> None:
        self.applied[kind] = msg.version
        self.digests[kind] = dig
        self.applied_at[kind] = time.time()
        self.last_error = None
        self.sim.stats.applied += 1
        if kind != KIND_COMMAND:
            self.publish_state()
        if self.sim.on_applied is not None:
            self.sim.on_applied(self, kind, msg.version)


class DeviceSim:
    """Many SimDevices on one event loop (create it inside a running loop)."""

    device_class = SimDevice

    def __init__(self, host: str, port: int, device_ids: Iterable[str], *, fleet_keys: list[bytes],
                 site_of: Callable[[str], str | None] | None = None, preload: Iterable[bytes] = (),
                 keepalive: int = 60, inflight: int = 8,
                 credentials: Callable[[str], tuple[str, str]] | None = None,
                 on_applied: Callable[[SimDevice, int, int], None] | None = None) -> None:
        self.host, self.port = host, port
        self.fleet_keys = list(fleet_keys)
        self.keepalive = keepalive
        self.inflight = inflight
        self.preload = {hashlib.sha256(b).digest() for b in preload}
        self.blobs: dict[bytes, bytes] = {}
        self.credentials = credentials
        self.on_applied = on_applied
        self.stats = SimStats()
        self._fetching: set[SimDevice] = set()
        self.devices = {d: self.device_class(self, d, site_of(d) if site_of else None) for d in device_ids}
        self._timer: asyncio.Task | None = None

    def username_for(self, dev: str) -> str | None:
        return self.credentials(dev)[0] if self.credentials else None

    def password_for(self, dev: str) -> str | None:
        return self.credentials(dev)[1] if self.credentials else None

    async def connect_all(self, concurrency: int = 256, timeout: float = 120.0) -> float:
        """Open every connection (CONNECT, SUBSCRIBE, first state); returns the seconds it took."""
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        gate = asyncio.Semaphore(concurrency)

        async def one(dev: SimDevice) -> None:
            async with gate:
                await loop.create_connection(lambda: _Conn(dev), self.host, self.port)
                await dev.connected

        await asyncio.wait_for(asyncio.gather(*(one(d) for d in self.devices.values())), timeout)
        if self._timer is None:
            self._timer = asyncio.create_task(self._tick())
        return time.monotonic() - t0

    async def _tick(self) -> None:
        """Keepalive pings and blob fetch retries (one timer for all devices)."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for d in list(self._fetching):
                d.retry_fetch(now)
            for d in self.devices.values():
                if now - d.last_tx > self.keepalive / 2:
                    d.ping()

    def versions(self, kind: int) -> dict[str, int | None]:
        return {d.id: d.applied.get(kind) for d in self.devices.values()}

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every QoS 1 publish has its PUBACK."""
        futs = [f for d in self.devices.values() for f in d._inflight.values()]
        if futs:
            await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), timeout)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for d in self.devices.values():
            d.close()
        await asyncio.sleep(0.05)
