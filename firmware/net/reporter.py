# Scan reporting: every decision goes to the persistent outbox first
# (record_scan, synchronous, flash only), and a background task drains the
# outbox into CBOR scan-report batches published with QoS 1. A record leaves
# the outbox only on the fleet's end-to-end ack (docs/protocol.md 4.4: CBOR
# {1: first seq, 2: last seq} on gg/v1/dev/{id}/ack, sent after the fleet's
# database commit), never on the broker's PUBACK: no broker behaviour
# (restart, lost session, ACL drop) can lose a record. One batch awaits its
# ack at a time; without one it is sent again after fleet_ack_ms (doubling
# to 120 s, +-20 % jitter) and at once after every reconnect (at-least-once;
# the fleet dedupes by (device, seq)).
#
# Outbox record (22 bytes, fixed): flags u8 (bit0 time_valid, bit1 verdict,
# bit2 has pass hash) | reason u8 | time u32 LE | pass hash 16 bytes.
import asyncio
import struct
from micropython import const

from net import topics

_REC_LEN = const(22)
_F_TIME_VALID = const(1)
_F_VERDICT = const(2)
_F_HASH = const(4)
_NO_HASH = b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"  # a literal: in flash when frozen
# private consts: no slot in the module dict (17 entries: one table size less)
_MAX_MESSAGE = const(1024)  # protocol: every device message <= 1024 bytes
_MAX_SCANS = const(30)      # protocol: 1..30 scans per batch
# device state keys this module fills (docs/protocol.md 4.2); main.py's
# state_provider supplies the others (2 firmware, 3 applied, 6 clock, ...)
_S_ONLINE = const(1)
_S_OUTBOX_DEPTH = const(4)
_S_DROPPED = const(5)
_S_REPORTING = const(14)
_REPORTING_LEVEL = const(2)  # state key 14: deletes records only on a fleet ack
_ACK_WAIT_MAX_MS = const(120000)
_DRAINED_STATE_GAP_MS = const(10000)
# The drain task's idle wait is made of naps this long, ended early by a
# record or a state request (at most one nap late). An asyncio.wait_for_ms
# around an Event.wait would wake at once but keeps two more tasks and a
# closure alive for the whole idle time (~0.9 KB on the 64-bit port).
_NAP_MS = const(50)
# Right after a PUBACK the fleet's ack is due within tens of ms (its commit):
# naps this short for _ACK_SOON_MS, so a 50 ms nap does not stretch every
# batch's round trip (the drain rate is one batch per ack).
_ACK_NAP_MS = const(2)
_ACK_SOON_MS = const(500)


def pack_scan(buf, time, time_valid, pass_hash, verdict, reason):
    """Fill the 22-byte record buffer (reused for every scan)."""
    flags = (_F_TIME_VALID if time_valid else 0) | (_F_VERDICT if verdict else 0)
    if pass_hash:
        flags |= _F_HASH
    buf[0] = flags
    buf[1] = reason & 0xFF
    struct.pack_into("<I", buf, 2, time & 0xFFFFFFFF)
    buf[6:22] = pass_hash[0:16] if pass_hash else _NO_HASH
    return buf


def unpack_scan(seq, rec):
    """The protocol's scan entry for one outbox record: [seq, time,
    time_valid, pass_hash or None, verdict, reason]; None if the record is
    not a scan record (the batch skips it rather than stalling the outbox)."""
    if len(rec) != _REC_LEN:
        return None
    flags = rec[0]
    return [seq, struct.unpack_from("<I", rec, 2)[0], bool(flags & _F_TIME_VALID),
            bytes(rec[6:22]) if flags & _F_HASH else None,
            bool(flags & _F_VERDICT), rec[1]]


def encode_batch(device_id, records, sent_at):
    """Scan report batch (docs/protocol.md 4.1) for [(seq, record bytes)]:
    {1: device id, 2: [scan, ...], 3: sent_at}."""
    from codec import cbor
    scans = []
    for seq, rec in records:
        e = unpack_scan(seq, rec)
        if e is not None:
            scans.append(e)
    return cbor.dumps({1: device_id, 2: scans, 3: sent_at})


def encode_state(fields, online=True):
    """Device state (docs/protocol.md 4.2): int keys, 1 = online."""
    from codec import cbor
    d = dict(fields) if fields else {}
    d[_S_ONLINE] = online
    return cbor.dumps(d)


def last_will(device_id):
    """(topic, payload, qos, retain) for MQTTClient(will=...): the broker
    publishes this retained "offline" state, exactly A1 01 F4 = {1: false},
    if the device vanishes without a DISCONNECT."""
    return (topics.state(device_id), encode_state(None, online=False), 1, True)


def _uint(p, i):
    """(value, next index) of the CBOR unsigned int at p[i], or (-1, 0) if
    it is not one of at most 4 bytes (a seq is a u32)."""
    if i >= len(p):
        return -1, 0
    b = p[i]
    if b < 0x18:
        return b, i + 1
    n = (1, 2, 4)[b - 0x18] if 0x18 <= b <= 0x1A else 0
    if not n or i + 1 + n > len(p):
        return -1, 0
    v = 0
    for k in range(i + 1, i + 1 + n):
        v = (v << 8) | p[k]
    return v, i + 1 + n


def parse_ack(p):
    """(first seq, last seq) of an ack payload: exactly the CBOR map
    {1: uint, 2: uint} (keys in either order); None for anything else.
    Untrusted bytes: never raises."""
    if len(p) < 5 or p[0] != 0xA2:
        return None
    got = [-1, -1, -1]
    i = 1
    for _ in range(2):
        k = p[i] if i < len(p) else 0
        if k not in (1, 2) or got[k] >= 0:
            return None
        got[k], i = _uint(p, i + 1)
        if got[k] < 0:
            return None
    if i != len(p):
        return None
    return got[1], got[2]


def _unix_now():
    import time
    t = int(time.time())
    return t + 946684800 if time.gmtime(0)[0] == 2000 else t


def _jitter(ms):
    """ms +- 20 %: gates that lost the fleet together do not resend together."""
    import random
    return ms * 4 // 5 + random.getrandbits(8) * (ms * 2 // 5) // 255


class Reporter:
    def __init__(self, client, outbox, device_id, state_provider=None,
                 batch_max=_MAX_SCANS, max_bytes=_MAX_MESSAGE, state_interval_s=300,
                 now=None, fleet_ack_ms=15000):
        """client: net.client.MQTTClient; outbox: store.outbox.Outbox;
        state_provider: callable -> dict of extra state fields with the
        protocol's int keys (2 firmware, 3 applied versions, 6 clock...);
        now: callable -> unix seconds for a batch's sent_at (hal Clock.now);
        fleet_ack_ms: wait for the fleet's ack before sending a batch again."""
        self.client = client
        self.outbox = outbox
        self.device_id = device_id
        self.state_provider = state_provider
        self.batch_max = batch_max
        self.max_bytes = max_bytes
        self.state_interval_ms = state_interval_s * 1000
        self.now = now or _unix_now
        self._rec = bytearray(_REC_LEN)
        self._woken = False    # a record / state request came: end the nap
        self._state_due = True
        self._state_pid = 0
        self._drained = False  # drained since the last state: tell the fleet
        self.batches = 0       # batches the broker took (PUBACK)
        self.reported = 0      # records the fleet acknowledged (committed)
        self.resends = 0       # batches sent again after a missing fleet ack
        self.ignored_acks = 0  # acks that were malformed, stale or forged
        self.skipped = 0       # outbox records that were not scan records
        self.topic = topics.scans(device_id)
        self.ack_topic = topics.ack(device_id)
        self.after_connect = None  # called after each connect (no arguments)
        self.forward = None    # on_message for every other topic (route())
        self.fleet_ack_ms = fleet_ack_ms
        self._ack_wait = fleet_ack_ms  # current wait, doubled per timeout
        self._sent_hi = 0      # highest seq sent since boot: no ack beyond it
        self._awaiting = 0     # last seq of the batch awaiting its ack (0: none)
        self._due = 0          # ticks_ms when that batch is sent again
        self._pubacked = 0     # ticks_ms of its PUBACK
        self._resend = False   # (re)connected: send the unacked batch at once

    # -- called by the scan pipeline (never touches the network) --------------
    def record_scan(self, time, time_valid, pass_hash, verdict, reason):
        """Persist one decision; returns its seq. Raises errors.StoreError if
        flash fails (the caller decides what the gate does then)."""
        seq = self.outbox.append(pack_scan(self._rec, time, time_valid,
                                           pass_hash, verdict, reason))
        self._woken = True
        return seq

    def notify(self):
        """Wake the drain task (after appending to the outbox elsewhere)."""
        self._woken = True

    # -- device state -----------------------------------------------------
    def state_fields(self):
        d = {}
        if self.state_provider:
            try:
                d = self.state_provider() or {}
            except Exception:  # a provider bug must not stop reporting
                d = {}
        d[_S_OUTBOX_DEPTH] = self.outbox.depth
        d[_S_DROPPED] = self.outbox.dropped
        d[_S_REPORTING] = _REPORTING_LEVEL
        return d

    # -- the fleet's end-to-end ack -------------------------------------------
    def route(self, client):
        """Take the client's incoming messages: the ack topic comes here,
        every other topic goes on to the handler set before (the control
        link), which never sees an ack."""
        self.forward = client.message_cb
        client.message_cb = self.on_message
        client.subscribe(self.ack_topic, 0)

    def on_message(self, topic, payload, retained=False):
        if topic == self.ack_topic:
            self.on_ack(payload)
        elif self.forward is not None:
            self.forward(topic, payload, retained)

    def on_ack(self, payload):
        """Fleet ack (first, last): the fleet committed seqs first..last.
        Taken only if it moves the outbox on (first <= acked + 1 <= last;
        after an overflow drop, the outbox's floor stands for acked + 1)
        and covers nothing this boot has not sent; anything else is stale
        or forged and ignored. Returns True if taken."""
        r = parse_ack(payload)
        ob = self.outbox
        # the first seq still in the outbox: past acked when the ring's
        # overflow rule dropped records (the fleet never got those)
        first = ob.acked + 1 if ob.acked >= ob.floor else ob.floor
        if r is None or not r[0] <= first <= r[1] or r[1] > self._sent_hi:
            self.ignored_acks += 1
            return False
        before = ob.depth
        ob.ack(r[1])  # persisted: a reboot sends only what is still unacked
        self.reported += before - ob.depth
        self._ack_wait = self.fleet_ack_ms
        if not ob.depth:
            self._drained = True  # let the fleet see it (at most every 10 s)
        self._woken = True
        return True

    def publish_state(self):
        """Queue the retained state now (or as soon as a slot frees up)."""
        self._state_due = True
        self._woken = True

    def on_connect(self, client):
        """Wire as MQTTClient(on_connect=...): re-assert "online" state,
        resend the unacked batch, then call after_connect() if set."""
        self.publish_state()
        self._resend = True
        if self.after_connect is not None:
            self.after_connect()

    def _try_state(self):
        c = self.client
        # One state message in flight at a time; a newer one waits its turn.
        if not c.connected or (self._state_pid and c.is_pending(self._state_pid)):
            return
        pid = c.publish(topics.state(self.device_id),
                        encode_state(self.state_fields()), 1, True)
        if pid:
            self._state_pid = pid
            self._state_due = False
            self._drained = False  # this state carries the current depth

    # -- drain task -------------------------------------------------------
    def _next_batch(self):
        """(payload, last seq) of the oldest unacked records, <= max_bytes.
        The batch ends before a record that is not a scan record: the fleet
        acks the seqs it got, so `last` must be one of them. Such a record
        at the head has nothing to report or wait for: it is acked here."""
        while True:
            recs = self.outbox.pending(self.batch_max, self.max_bytes)
            if not recs:
                return None, 0
            n = 0
            while n < len(recs) and len(recs[n][1]) == _REC_LEN:
                n += 1
            if n:
                break
            self.skipped += 1
            self.outbox.ack(recs[0][0])
        while True:
            payload = encode_batch(self.device_id, recs[:n], self.now())
            if len(payload) <= self.max_bytes or n == 1:
                return payload, recs[n - 1][0]
            n = n * 3 // 4 or 1

    async def run(self):
        """Drain the outbox for ever. Wire with asyncio.create_task()."""
        from time import ticks_ms, ticks_diff, ticks_add
        last_state = ticks_ms()
        client = self.client
        while True:
            self._woken = False  # anything that happens from here on wakes us
            if self._drained and ticks_diff(ticks_ms(), last_state) >= _DRAINED_STATE_GAP_MS:
                self._state_due = True  # drained soon after the last state
            if self._state_due or ticks_diff(ticks_ms(), last_state) >= self.state_interval_ms:
                self._state_due = True
                self._try_state()
                if not self._state_due:
                    last_state = ticks_ms()
            if not client.connected:
                await self._sleep(500)
                continue
            if self._awaiting:
                if self.outbox.acked >= self._awaiting:
                    self._awaiting = 0  # acked: the next batch
                elif self._resend:
                    pass  # reconnected: the fleet may never have had it
                else:
                    now = ticks_ms()
                    left = ticks_diff(self._due, now)
                    if left > 0:
                        soon = ticks_diff(now, self._pubacked) < _ACK_SOON_MS
                        await self._sleep(min(left, 1000), _ACK_NAP_MS if soon else _NAP_MS)
                        continue
                    self.resends += 1  # no ack in time: send it again, wait longer
                    self._ack_wait = min(self._ack_wait * 2, _ACK_WAIT_MAX_MS)
            payload, last = self._next_batch()
            if payload is None:
                self._awaiting = 0
                await self._sleep(1000)
                continue
            if last > self._sent_hi:
                self._sent_hi = last  # before the fleet can possibly ack it
            pid = client.publish(self.topic, payload, 1, False)
            payload = None
            if not pid:
                await self._sleep(100)  # every in-flight slot busy
                continue
            self._resend = False
            # The client re-sends across reconnects until PUBACK arrives.
            # PUBACK deletes nothing: the fleet's ack does (on_ack).
            await client.wait_puback(pid)
            self.batches += 1
            self._awaiting = last
            self._pubacked = ticks_ms()
            self._due = ticks_add(self._pubacked, _jitter(self._ack_wait))

    async def _sleep(self, ms, nap=_NAP_MS):
        while ms > 0 and not self._woken:
            await asyncio.sleep_ms(nap)
            ms -= nap
