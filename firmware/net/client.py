# MQTT connectivity layer: keeps a session to the broker alive across
# outages on top of the protocol layer (net/mqtt.py).
#
# - Never blocks the caller: publish() only enqueues and returns at once.
# - QoS 1: a fixed table of in-flight slots. A message stays in its slot until
#   PUBACK; it is re-sent with DUP after ack_timeout_ms and after every
#   reconnect. publish() returns 0 when every slot is busy (caller retries).
# - QoS 0: a fixed ring of qos0_slots messages, kept while offline.
#   Overflow rule: the oldest queued message is dropped and counted in
#   dropped_qos0 (newer state supersedes older state).
# - Keepalive: PINGREQ when nothing was sent for keepalive/2; the connection
#   is declared dead when nothing arrived for 1.5 x keepalive.
# - Any error, malformed packet or timeout closes the socket; the supervisor
#   reconnects with exponential backoff and random jitter, re-subscribes and
#   re-sends the unacked QoS 1 messages. The backoff starts again from the
#   minimum only after a connection that stayed up stable_ms: one that dies
#   soon after CONNACK (e.g. a retained message the device rejects, sent
#   again at every connect) counts as a failure and the wait keeps growing.
#   Clean sessions: state the broker must keep is published retained instead.
# - An incoming PUBLISH over max_packet does not end the session: the
#   protocol layer drops it (PUBACKed if QoS 1), notes it in last_error and
#   hands it to oversize_cb(topic or None, size, retained) (the control link
#   reports it), so scans and the fleet's acks keep flowing.
import asyncio
import random
import time
from micropython import const

from net import mqtt
from net.mqtt import MQTTProtocol, MQTTError

# (time.ticks_ms, mqtt.MAX_PACKET: fewer globals, this module's dict stays
# at 12 entries, one table size smaller; docs/memory.md)

_FREE = const(0)
_QUEUED = const(1)   # waiting to be (re)sent on the current connection
_SENT = const(2)     # sent, waiting for PUBACK
# in-flight slot fields
_STATE = const(0)
_PID = const(1)
_TOPIC = const(2)
_PAYLOAD = const(3)
_RETAIN = const(4)
_T = const(5)
_SENDS = const(6)


def pem_to_der(data):
    """DER certificates in a PEM bundle (MicroPython's cadata wants DER)."""
    from binascii import a2b_base64
    out = []
    begin = b"-----BEGIN CERTIFICATE-----"
    end = b"-----END CERTIFICATE-----"
    i = data.find(begin)
    while i >= 0:
        j = data.find(end, i)
        if j < 0:
            break
        out.append(a2b_base64(data[i + len(begin):j].replace(b"\r", b"").replace(b"\n", b"")))
        i = data.find(begin, j)
    return out


def tls_context(cafile=None, cadata=None):
    """Client TLS context that verifies the broker's certificate against a
    CA (PEM or DER file, or bytes). Without a CA nothing is verified: only
    for tests on loopback."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        with open(cafile, "rb") as f:
            cadata = f.read()
    if cadata:
        ders = pem_to_der(cadata) if b"-----BEGIN" in cadata else [cadata]
        if not ders:
            raise ValueError("no certificate in CA data")
        for der in ders:
            ctx.load_verify_locations(cadata=der)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class MQTTClient(MQTTProtocol):
    def __init__(self, client_id, host, port=1883, user=None, password=None,
                 keepalive=60, will=None, ssl=None, server_hostname=None,
                 on_message=None, on_connect=None, qos0_slots=8, inflight=4,
                 ack_timeout_ms=10000, connect_timeout_ms=10000,
                 backoff_min_ms=500, backoff_max_ms=60000, max_packet=mqtt.MAX_PACKET,
                 rx_size=mqtt.RX_SIZE, stable_ms=30000):
        super().__init__(client_id, user, password, keepalive, will, max_packet,
                         rx_size=rx_size)
        self.host = host
        self.port = port
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.message_cb = on_message
        self.connect_cb = on_connect
        # No counter beside it: the instance's attribute table is full, one
        # more attribute grows it by 12 slots (docs/outbox-and-mqtt.md).
        self.oversize_cb = None
        self.ack_timeout_ms = ack_timeout_ms
        self.connect_timeout_ms = connect_timeout_ms
        self.backoff_min_ms = backoff_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.stable_ms = stable_ms
        self._slots = [[_FREE, 0, None, None, False, 0, 0] for _ in range(inflight)]
        # QoS 0 ring: allocated on the first QoS 0 publish (the firmware
        # publishes QoS 1 only today; docs/memory.md)
        self._q0 = None
        self._q0_slots = qos0_slots
        self._q0_head = 0
        self._q0_len = 0
        self._subs = []
        self._pid = 0
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._down = asyncio.Event()
        self._task = None
        self._stop = False
        self.connected = False
        self._last_tx = self._last_rx = time.ticks_ms()
        # counters, reported in the device state
        self.dropped_qos0 = 0
        self.connects = 0
        self.failures = 0
        self.retry_ms = 0  # the wait before the latest reconnect
        self._up_ms = 0    # ticks_ms of the latest CONNACK
        self.last_error = ""

    # -- public API: never blocks ---------------------------------------------
    def start(self):
        if self._task is None:
            self._stop = False
            self._task = asyncio.create_task(self._supervise())
        return self._task

    def publish(self, topic, payload, qos=0, retain=False):
        """Enqueue a message. QoS 1: returns its packet id, or 0 when all
        in-flight slots are busy. QoS 0: returns True (an older queued QoS 0
        message may have been dropped to make room)."""
        if qos:
            for s in self._slots:
                if s[_STATE] == _FREE:
                    s[_STATE] = _QUEUED
                    s[_PID] = self._new_pid()
                    s[_TOPIC] = topic
                    s[_PAYLOAD] = payload
                    s[_RETAIN] = retain
                    s[_SENDS] = 0
                    self._wake.set()
                    return s[_PID]
            return 0
        q = self._q0
        if q is None:
            q = self._q0 = [[None, None, False] for _ in range(self._q0_slots)]
        if self._q0_len == len(q):
            self._q0_head = (self._q0_head + 1) % len(q)
            self._q0_len -= 1
            self.dropped_qos0 += 1
        e = q[(self._q0_head + self._q0_len) % len(q)]
        e[0] = topic
        e[1] = payload
        e[2] = retain
        self._q0_len += 1
        self._wake.set()
        return True

    def free_slots(self):
        n = 0
        for s in self._slots:
            if s[_STATE] == _FREE:
                n += 1
        return n

    def is_pending(self, pid):
        for s in self._slots:
            if s[_STATE] != _FREE and s[_PID] == pid:
                return True
        return False

    async def wait_puback(self, pid, timeout_ms=0):
        """True once the broker acknowledged pid; False after timeout_ms
        (0 = wait for ever). The message stays queued either way."""
        t0 = time.ticks_ms()
        while self.is_pending(pid):
            try:
                await asyncio.wait_for_ms(self._acked.wait(), 1000)
            except asyncio.TimeoutError:
                pass
            if timeout_ms and time.ticks_diff(time.ticks_ms(), t0) >= timeout_ms:
                return not self.is_pending(pid)
        return True

    async def wait_connected(self):
        while not self.connected:
            await asyncio.sleep_ms(100)

    def subscribe(self, topic, qos=1):
        """Subscribe now (if connected) and after every reconnect."""
        for t in self._subs:
            if t[0] == topic:
                return
        self._subs.append([topic, qos, 0])  # state: 0 to send, pid awaiting SUBACK, -1 done
        self._wake.set()

    async def stop(self, disconnect=True):
        """Close cleanly (DISCONNECT: the broker drops the Last Will)."""
        self._stop = True
        if self.connected and disconnect:
            try:
                await asyncio.wait_for_ms(self.send_disconnect(), 2000)
            except Exception:
                pass
        self._down.set()
        if self._task:
            try:
                await asyncio.wait_for_ms(self._task, 5000)
            except Exception:
                pass
            self._task = None

    # -- internals --------------------------------------------------------------
    def _new_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if not self.is_pending(self._pid):
                return self._pid

    def _sent(self):
        self._last_tx = time.ticks_ms()

    def _received(self):
        self._last_rx = time.ticks_ms()

    def on_puback(self, pid):
        for s in self._slots:
            if s[_STATE] == _SENT and s[_PID] == pid:
                s[_STATE] = _FREE
                s[_TOPIC] = s[_PAYLOAD] = None
                # Wake every waiter, then arm a fresh event for the next ack.
                self._acked.set()
                self._acked = asyncio.Event()
                return
        # A PUBACK for nothing in flight (late duplicate): harmless.

    def on_suback(self, pid, codes):
        for t in self._subs:
            if t[2] == pid:
                t[2] = -1
                if codes[0] == 0x80:
                    self.last_error = "subscription refused: %s" % t[0]

    def on_message(self, topic, payload, retained):
        self._hand_over("on_message", self.message_cb, topic, payload, retained)

    def on_oversize(self, topic, size, retained):
        self.last_error = "PUBLISH of %d bytes over %d dropped: %s" % (
            size, self.max_packet, topic)
        self._hand_over("on_oversize", self.oversize_cb, topic, size, retained)

    def _hand_over(self, name, cb, topic, arg, retained):
        if cb:
            try:
                cb(topic, arg, retained)
            except Exception as e:  # a consumer bug must not drop the link
                self.last_error = "%s: %r" % (name, e)

    async def _supervise(self):
        failures = 0
        while not self._stop:
            try:
                await self._session()
            except Exception as e:
                self.last_error = repr(e)
            # Only a session that stayed up stable_ms starts the backoff
            # again from the minimum: the same rejection at every connect
            # must not make the device reconnect at the shortest wait.
            stable = self.connected and time.ticks_diff(time.ticks_ms(), self._up_ms) >= self.stable_ms
            failures = 1 if stable else failures + 1
            self.connected = False
            await self._close()
            if self._stop:
                break
            self.failures += 1
            self.retry_ms = self._backoff(failures)
            await asyncio.sleep_ms(self.retry_ms)

    def _backoff(self, failures):
        # Exponential backoff with "equal jitter": half fixed, half random.
        d = self.backoff_min_ms << min(failures - 1, 16)
        if d > self.backoff_max_ms:
            d = self.backoff_max_ms
        # 8 random bits: the product stays a small int on a 32-bit port
        return d // 2 + random.getrandbits(8) * (d - d // 2) // 255

    async def _close(self):
        w = self._writer
        self._reader = self._writer = None
        if w is not None:
            try:
                w.close()
                await w.wait_closed()
            except Exception:
                pass

    async def _open(self):
        if self.ssl:
            return await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl,
                server_hostname=self.server_hostname or self.host)
        return await asyncio.open_connection(self.host, self.port)

    async def _session(self):
        self._down = asyncio.Event()
        self._reader, self._writer = await asyncio.wait_for_ms(
            self._open(), self.connect_timeout_ms)
        await self.send_connect(clean=True)
        await asyncio.wait_for_ms(self.read_connack(), self.connect_timeout_ms)
        self.connected = True
        self.connects += 1
        self._last_rx = self._up_ms = time.ticks_ms()
        for s in self._slots:
            if s[_STATE] == _SENT:
                s[_STATE] = _QUEUED  # re-send with DUP on this connection
        for t in self._subs:
            t[2] = 0
        if self.connect_cb:
            try:
                self.connect_cb(self)
            except Exception as e:
                self.last_error = "on_connect: %r" % e
        tasks = (asyncio.create_task(self._guard(self._read_loop())),
                 asyncio.create_task(self._guard(self._send_loop())),
                 asyncio.create_task(self._guard(self._keepalive_loop())))
        await self._down.wait()
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except BaseException:
                pass

    async def _guard(self, coro):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.last_error = repr(e)
        finally:
            self._down.set()

    async def _read_loop(self):
        while True:
            await self.handle_packet()

    async def _keepalive_loop(self):
        # Also the re-send timer: the send loop waits on _wake alone, this
        # loop wakes it when a PUBACK is overdue (an asyncio.wait_for_ms with
        # a timeout in the send loop kept two more tasks and a closure alive
        # for the whole session: ~0.7 KB on the 64-bit port, docs/firmware.md).
        ka = self.keepalive * 1000
        tick = ka // 4 if 0 < ka < 2000 else 500
        while True:
            await asyncio.sleep_ms(tick)
            now = time.ticks_ms()
            if ka:
                if time.ticks_diff(now, self._last_rx) > ka * 3 // 2:
                    raise MQTTError("no packet from broker for %d ms"
                                    % time.ticks_diff(now, self._last_rx))
                if time.ticks_diff(now, self._last_tx) >= ka // 2:
                    await self.send_pingreq()
            for s in self._slots:
                if s[_STATE] == _SENT and time.ticks_diff(now, s[_T]) >= self.ack_timeout_ms:
                    self._wake.set()
                    break

    async def _send_loop(self):
        while True:
            self._wake.clear()  # a publish() from here on brings another round
            for t in self._subs:
                if t[2] == 0:
                    t[2] = self._new_pid()
                    await self.send_subscribe(t[2], t[0], t[1])
            now = time.ticks_ms()
            for s in self._slots:
                st = s[_STATE]
                if st == _QUEUED or (st == _SENT and time.ticks_diff(now, s[_T]) >= self.ack_timeout_ms):
                    s[_STATE] = _SENT
                    s[_T] = now
                    dup = s[_SENDS] > 0
                    s[_SENDS] += 1
                    await self.send_publish(s[_TOPIC], s[_PAYLOAD], 1, s[_RETAIN], s[_PID], dup)
            while self._q0_len:
                e = self._q0[self._q0_head]
                topic, payload, retain = e
                e[0] = e[1] = None
                self._q0_head = (self._q0_head + 1) % len(self._q0)
                self._q0_len -= 1
                await self.send_publish(topic, payload, 0, retain)
            await self._wake.wait()
