# MQTT 3.1.1 protocol layer over one asyncio stream (reader, writer).
#
# It only speaks the protocol: encode packets, parse what the broker sends,
# reject anything malformed with ProtocolError. Connecting, keepalive,
# retransmission and reconnects live in net/client.py (the connectivity
# layer). Our own implementation: MicroPython ships no asyncio MQTT client.
#
# Memory: a small resident receive buffer (rx_size bytes: every packet the
# steady state brings, PUBLISH headers, commands), a small transmit buffer
# of max_tx bytes (PUBACK, PINGREQ, SUBSCRIBE, short PUBLISHes) and a 5-byte
# header buffer, allocated once. A larger outgoing packet (a scan batch,
# ~1 KiB) is joined in a buffer of its own, garbage once written: still one
# write per packet, without a resident buffer of the largest one's size.
# A PUBLISH larger
# than the receive buffer (a signed list, a blob chunk; at most max_packet)
# is read straight into a bytearray of its payload's exact length, which the
# callback then owns: no buffer of the cap's size stays allocated.
# A PUBLISH over max_packet is read through the receive buffer a chunk at a
# time and dropped (PUBACKed if QoS 1), reported to on_oversize: closing the
# connection instead made a retained one kill every session after CONNACK.
import asyncio
import struct
from micropython import const

CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBSCRIBE = const(0x82)
SUBACK = const(0x90)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)

# Largest incoming packet: signed control messages are capped at 4 KiB
# (docs/protocol.md 1) plus topic and header. A bigger PUBLISH is dropped
# unread (on_oversize), any other bigger packet is a protocol error.
MAX_PACKET = const(4352)
# Resident receive buffer: CONNACK, PUBACK, SUBACK, PINGRESP, the variable
# header (topic, packet id) of every PUBLISH, and whole small PUBLISHes such
# as signed commands (~200 bytes). Larger payloads get their own buffer.
RX_SIZE = const(256)

# PINGREQ / DISCONNECT packets: literals where they are sent (each global
# is a slot of this module's dict: 23 keep it one table size smaller)

# CONNACK return codes (MQTT 3.1.1, 3.2.2.3)
CONNACK_NAMES = ("accepted", "bad protocol version", "client id rejected",
                 "server unavailable", "bad user name or password", "not authorized")


class MQTTError(Exception):
    """The session cannot go on (connection refused, lost, timed out)."""


class ProtocolError(MQTTError):
    """The broker sent bytes that are not valid MQTT 3.1.1 for a client."""


def _str(s):
    return s.encode() if isinstance(s, str) else s


def encode_length(buf, n):
    """Write an MQTT remaining length at buf[1:]; returns the header size."""
    i = 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            buf[i] = b | 0x80
            i += 1
        else:
            buf[i] = b
            return i + 1


class MQTTProtocol:
    def __init__(self, client_id, user=None, password=None, keepalive=60,
                 will=None, max_packet=MAX_PACKET, max_tx=256, rx_size=RX_SIZE):
        """will: (topic, payload, qos, retain) or None. max_packet bounds
        incoming packets (a larger PUBLISH is dropped and reported to
        on_oversize, anything else larger is a protocol error); rx_size is the
        resident receive buffer (a PUBLISH's topic must fit in it; a larger
        payload is read into a buffer of its own); every packet goes out in
        a single write, from the resident max_tx buffer if it fits."""
        self.client_id = _str(client_id)
        self.user = _str(user) if user is not None else None
        self.password = _str(password) if password is not None else None
        self.keepalive = keepalive
        self.will = will
        self.max_packet = max_packet
        self._hdr = bytearray(5)
        self._rx = bytearray(min(rx_size, max_packet))
        self._txmv = memoryview(bytearray(max_tx))
        self._rxmv = memoryview(self._rx)
        self._one = memoryview(self._rx)[0:1]
        self._reader = None
        self._writer = None
        self._wlock = asyncio.Lock()

    # -- sending --------------------------------------------------------
    async def _write(self, *parts):
        # One writer at a time: asyncio streams cannot drain concurrently.
        async with self._wlock:
            w = self._writer
            if w is None:
                raise MQTTError("not connected")
            # One buffer, one write: separate small writes meet Nagle's
            # algorithm and the broker's delayed ACK (~40 ms per packet).
            n = 0
            for p in parts:
                n += len(p)
            tx = self._txmv if n <= len(self._txmv) else memoryview(bytearray(n))
            n = 0
            for p in parts:
                tx[n:n + len(p)] = p
                n += len(p)
            w.write(tx[0:n])
            tx = None  # a packet's own buffer is garbage from here
            await w.drain()
        self._sent()

    def _sent(self):
        # Hook for the connectivity layer (keepalive bookkeeping).
        pass

    def connect_packet(self, clean=True):
        """The CONNECT packet bytes (built once per connection)."""
        flags = 0x02 if clean else 0
        body = bytearray(b"\x00\x04MQTT\x04\x00\x00\x00")
        body += struct.pack("!H", len(self.client_id)) + self.client_id
        if self.will:
            topic, msg, qos, retain = self.will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            topic = _str(topic)
            body += struct.pack("!H", len(topic)) + topic
            body += struct.pack("!H", len(msg)) + msg
        if self.user is not None:
            flags |= 0x80
            body += struct.pack("!H", len(self.user)) + self.user
            if self.password is not None:
                flags |= 0x40
                body += struct.pack("!H", len(self.password)) + self.password
        body[7] = flags
        struct.pack_into("!H", body, 8, self.keepalive)
        hdr = bytearray(5)
        hdr[0] = CONNECT
        n = encode_length(hdr, len(body))
        return bytes(hdr[:n]) + body

    async def send_connect(self, clean=True):
        await self._write(self.connect_packet(clean))

    async def send_publish(self, topic, payload, qos=0, retain=False, pid=0, dup=False):
        topic = _str(topic)
        hdr = self._hdr
        hdr[0] = PUBLISH | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
        n = encode_length(hdr, 2 + len(topic) + (2 if qos else 0) + len(payload))
        tl = struct.pack("!H", len(topic))
        if qos:
            await self._write(hdr[:n], tl, topic, struct.pack("!H", pid), payload)
        else:
            await self._write(hdr[:n], tl, topic, payload)

    async def send_puback(self, pid):
        await self._write(struct.pack("!BBH", PUBACK, 2, pid))

    async def send_subscribe(self, pid, topic, qos=1):
        topic = _str(topic)
        hdr = self._hdr
        hdr[0] = SUBSCRIBE
        n = encode_length(hdr, 2 + 2 + len(topic) + 1)
        await self._write(hdr[:n], struct.pack("!HH", pid, len(topic)), topic, bytes((qos,)))

    async def send_pingreq(self):
        await self._write(b"\xc0\x00")  # PINGREQ

    async def send_disconnect(self):
        await self._write(b"\xe0\x00")  # DISCONNECT

    # -- receiving --------------------------------------------------------
    async def _read_into(self, mv):
        r = self._reader
        got = 0
        n = len(mv)
        while got < n:
            k = await r.readinto(mv[got:])
            if k is None:
                continue  # TLS record not complete yet
            if not k:
                raise MQTTError("connection closed by broker")
            got += k

    async def _skip(self, n):
        # Bytes we drop, read through the resident buffer: nothing allocated
        # for them. Each chunk is progress: the link is alive meanwhile.
        mv = self._rxmv
        size = len(mv)
        while n > 0:
            k = n if n < size else size
            await self._read_into(mv[0:k])
            n -= k
            self._received()

    async def _read_header(self):
        """The fixed header: (first byte, remaining length)."""
        one = self._one
        await self._read_into(one)
        first = one[0]
        n = 0
        shift = 0
        for _ in range(4):
            await self._read_into(one)
            n |= (one[0] & 0x7F) << shift
            shift += 7
            if not one[0] & 0x80:
                break
        else:
            raise ProtocolError("remaining length longer than 4 bytes")
        return first, n

    async def _read_body(self, first, n):
        if n > len(self._rx):
            raise ProtocolError("packet 0x%02x of %d bytes exceeds %d" % (first, n, len(self._rx)))
        if n:
            await self._read_into(self._rxmv[0:n])
        self._received()

    async def read_packet(self):
        """Read one packet that fits the receive buffer; returns (first byte,
        body length). The body is in self._rx[0:length] until the next read."""
        first, n = await self._read_header()
        await self._read_body(first, n)
        return first, n

    def _received(self):
        # Hook for the connectivity layer (dead-connection detection).
        pass

    async def read_connack(self):
        first, n = await self.read_packet()
        if first != CONNACK or n != 2 or self._rx[0] & 0xFE:
            raise ProtocolError("expected CONNACK, got 0x%02x/%d" % (first, n))
        rc = self._rx[1]
        if rc:
            name = CONNACK_NAMES[rc] if rc < len(CONNACK_NAMES) else "code %d" % rc
            raise MQTTError("connection refused: " + name)
        return self._rx[0] & 1  # session present

    async def handle_packet(self):
        """Read and dispatch one packet from an established session."""
        first, n = await self._read_header()
        if first & 0xF0 == PUBLISH:
            await self._handle_publish(first, n)
            return
        await self._read_body(first, n)
        rx = self._rx
        if first == PUBACK:
            if n != 2:
                raise ProtocolError("PUBACK length %d" % n)
            self.on_puback((rx[0] << 8) | rx[1])
        elif first == SUBACK:
            if n < 3:
                raise ProtocolError("SUBACK length %d" % n)
            for i in range(2, n):
                if rx[i] not in (0, 1, 2, 0x80):
                    raise ProtocolError("SUBACK code 0x%02x" % rx[i])
            self.on_suback((rx[0] << 8) | rx[1], bytes(self._rxmv[2:n]))
        elif first == PINGRESP:
            if n:
                raise ProtocolError("PINGRESP with a body")
        else:
            raise ProtocolError("unexpected packet 0x%02x" % first)

    async def _handle_publish(self, first, n):
        qos = (first >> 1) & 3
        if qos > 1:
            # We subscribe with QoS <= 1, so the broker must not send QoS 2.
            raise ProtocolError("PUBLISH with QoS %d" % qos)
        if n < 2:
            raise ProtocolError("PUBLISH too short")
        rx = self._rx
        rxmv = self._rxmv
        small = n <= len(rx)
        over = n > self.max_packet
        # the whole packet, or only its topic length, into the buffer
        await self._read_into(rxmv[0:n if small else 2])
        tl = (rx[0] << 8) | rx[1]
        off = 2 + tl
        if qos:
            off += 2
        if off > n or tl == 0:
            raise ProtocolError("PUBLISH topic length %d of %d" % (tl, n))
        if not small:
            if off <= len(rx):
                await self._read_into(rxmv[2:off])
            elif over:
                # dropped anyway: its topic need not fit, only the packet id
                await self._skip(tl)
                tl = 0
                if qos:
                    await self._read_into(rxmv[2:4])
            else:
                raise ProtocolError("PUBLISH topic of %d bytes exceeds %d" % (tl, len(rx)))
        topic = None
        if tl:
            try:
                topic = bytes(rxmv[2:2 + tl]).decode()
            except UnicodeError:
                raise ProtocolError("PUBLISH topic not UTF-8")
        pid = 0
        if qos:
            pid = (rx[2 + tl] << 8) | rx[3 + tl]
            if pid == 0:
                raise ProtocolError("PUBLISH QoS 1 with packet id 0")
        if over:
            # Read and dropped, never allocated; PUBACKed below so that the
            # broker does not send it again on this session.
            await self._skip(n - off)
            self.on_oversize(topic, n, bool(first & 1))
        else:
            if small:
                payload = bytes(rxmv[off:n])
            else:
                # Only while this packet is handled: the callback owns it after.
                try:
                    payload = bytearray(n - off)
                except MemoryError:
                    raise MQTTError("no memory for a PUBLISH of %d bytes" % n)
                await self._read_into(memoryview(payload))
            self._received()
            # Deliver before PUBACK: a crash in between means a re-delivery,
            # never a lost message.
            self.on_message(topic, payload, bool(first & 1))
            payload = None
        if qos:
            await self.send_puback(pid)

    # -- callbacks (overridden by the connectivity layer) ---------------------
    def on_puback(self, pid):
        pass

    def on_suback(self, pid, codes):
        pass

    def on_message(self, topic, payload, retained):
        # payload: bytes, or a bytearray for one larger than the receive
        # buffer; either way a new object the callee may keep.
        pass

    def on_oversize(self, topic, size, retained):
        # A PUBLISH of size bytes (remaining length) over max_packet, read
        # and dropped; topic is None when it was too long to keep.
        pass
