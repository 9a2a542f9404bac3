# The control plane's message handling (docs/protocol.md sections 5-6): turns
# the messages of the control topics into applied state, fetches blobs, runs
# commands and answers them. Loaded only while messages are handled: the
# resident part (control/link.py: topics, routing, reported fields) loads it
# and runs `run(quiet_ms)` in a task that ends once nothing is pending.
#
#   svc = ControlService(state, root, fleet_keys, clock, on_applied, on_command, log, link)
#   svc.attach(client, reporter)   (without a link) subscribe + route here for good
#   await svc.run(quiet_ms=None)   the task that verifies and applies
#   svc.state_fields()             {3: applied versions, 12: last error, 13: fetch}
#
# The MQTT read loop must not stall for a signature check (~1.2 s on an
# ESP32), so receive() only queues signed messages in a bounded inbox:
# one slot per list kind (a newer config / trust / revocation / dcc message replaces
# the queued one) and at most 4 commands (overflow: the oldest command is
# dropped and counted in link.dropped; the operator sees no reply and re-sends).
# Blob chunks are handled at once (a file append and a hash update).
#
# on_applied(kind) is called after a commit (the app rebuilds its decider).
# on_command(code, args) -> (status, detail, data or None) runs a verified
# command; data (a screenshot PNG) goes back in reply chunks.
import asyncio
import gc
from time import ticks_ms, ticks_diff
from micropython import const

import errors
from verify import reasons
from control import envelope

_INBOX = const(4)  # commands waiting
_OOM_TRIES = const(3)  # a message that ran out of heap is tried this often
_FETCH_RETRY_MS = const(10000)
_REPLY_CHUNK = const(768)


class ControlService:
    def __init__(self, state, root, fleet_keys, clock, on_applied=None, on_command=None,
                 log=None, link=None):
        self.state = state
        self.root = root
        self.keys = fleet_keys
        self.clock = clock
        self.on_applied = on_applied
        self.on_command = on_command
        self.log = log or (lambda *_a: None)
        self.device_id = state.device_id
        self.client = None
        self.reporter = None
        if link is None:  # no resident part: this service stays (tests, tools)
            from control.link import ControlLink

            link = ControlLink(state, log=self.log)
            link.svc = self
        self.link = link          # also keeps last error, dropped commands
        self._inbox = []          # [kind, payload, tries out of heap]
        self.pending = {}         # kind -> envelope.Message waiting for its blobs
        self.receiver = None      # control.blob.BlobReceiver
        self._fetch_ms = 0
        self._busy_ms = ticks_ms()  # last message or pending work (quiet period)
        self._wake = asyncio.Event()
        self._replies = []        # reply payloads waiting for a free QoS 1 slot
        self.handed_over = False  # an update offer went to ota/: end once idle
        # the signature check's 4 KB table, taken once while the heap is
        # whole enough (a failed load is retried by the link), reused for
        # every message instead of a new 4 KB hole per message
        from crypto.ed25519 import SCRATCH

        self._scratch = bytearray(SCRATCH)

    # -- wiring ---------------------------------------------------------------
    def attach(self, client, reporter=None):
        self.link.attach(client, reporter)

    @property
    def dropped(self):
        return self.link.dropped

    def receive(self, kind, payload):
        """One message of control kind `kind` (0: a blob chunk), from the link."""
        self._busy_ms = ticks_ms()
        if kind:
            self.handed_over = False
        if kind == 0:
            self.on_chunk(payload)
            return
        for item in self._inbox:
            if item[0] == kind and kind != envelope.KIND_COMMAND:
                item[1] = bytes(payload)  # the newer one supersedes
                item[2] = 0
                self._wake.set()
                return
        if kind == envelope.KIND_COMMAND:
            n = 0
            for item in self._inbox:
                if item[0] == kind:
                    n += 1
            if n >= _INBOX:
                for i in range(len(self._inbox)):
                    if self._inbox[i][0] == kind:
                        self._inbox.pop(i)  # the oldest command goes
                        break
                self.link.dropped += 1
        self._inbox.append([kind, bytes(payload), 0])
        self._wake.set()

    def fetching(self):
        """State key 13: [blob sha256, next chunk, chunk count] or None."""
        rx = self.receiver
        return None if rx is None else [rx.sha, rx.next, rx.count]

    def state_fields(self):
        return self.link.state_fields()

    def idle(self):
        """Nothing pending: no message queued or waiting for its blobs, no
        fetch, no reply to send."""
        return not (self._inbox or self.pending or self.receiver is not None or self._replies)

    # -- the task -------------------------------------------------------------
    async def run(self, quiet_ms=None):
        """Verify and apply what comes. quiet_ms: return once idle() and no
        message came for that long (the link then unloads the service);
        None: run for good."""
        while True:
            try:
                await asyncio.wait_for_ms(self._wake.wait(), 1000)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                self.step()
            except Exception as e:  # noqa: one bad message must not stop the plane
                self.log("control step failed: %r" % (e,))
            await self._flush_replies()
            if not self.idle():
                self._busy_ms = ticks_ms()
            elif quiet_ms is not None and (self.handed_over
                                           or ticks_diff(ticks_ms(), self._busy_ms) >= quiet_ms):
                return  # (an update downloads with the control plane unloaded)

    def step(self):
        """Process everything queued (also the test entry point, no asyncio)."""
        while self._inbox:
            item = self._inbox.pop(0)
            try:
                self.handle(item[0], item[1])
            except MemoryError:
                # most likely a fragmented heap (the verify table, the
                # message's copies): it goes back to the front and the run
                # loop tries again a second later, after a collection;
                # after _OOM_TRIES it is dropped and reported (key 12)
                gc.collect()
                item[2] += 1
                if item[2] < _OOM_TRIES:
                    self._inbox.insert(0, item)
                else:
                    self.link.last_error = [item[0], reasons.INTERNAL, 0]
                    self._state_changed()
                raise
        if self.receiver is not None or self.pending:
            if ticks_diff(ticks_ms(), self._fetch_ms) >= _FETCH_RETRY_MS:
                if self.receiver is None:
                    self._fetch_ms = ticks_ms()
                    self._next_fetch()  # after a failed blob write
                else:
                    self._request()

    def _now(self):
        c = self.clock
        if c is None:
            return None
        return c.now() if c.trusted else None

    def _check_for(self, kind):
        if kind == envelope.KIND_CONFIG:
            from gate import rules

            return rules.SiteConfig
        if kind == envelope.KIND_REVOCATION:
            from store import revocation

            return revocation.check_body
        if kind == envelope.KIND_TRUST:
            return _check_trust
        if kind == envelope.KIND_DCC:
            from verify import dsc

            return dsc.check_body
        if kind == envelope.KIND_OTA:
            return _check_offer
        return _check_command

    def handle(self, kind, data):
        """Verify one signed message and apply it (or start its blob fetch).
        Returns the reason code (OK, or the CTRL_* refusal)."""
        try:
            msg = envelope.verify_message(data, kind, self.keys, self.state, self._now(),
                                          self._check_for(kind), self._scratch)
        except errors.GateError as e:
            reason = e.reason if isinstance(e, errors.ControlError) else reasons.INTERNAL
            self.link.last_error = [kind, reason, getattr(e, "version", 0)]
            self.log("control %d refused: %s %s" % (kind, reasons.name(reason), e.detail))
            if kind == envelope.KIND_COMMAND:
                self._reply(0, reason, e.detail)
            self._state_changed()
            return reason
        if msg is None:
            return reasons.OK  # the applied message again (retained re-delivery)
        if kind == envelope.KIND_OTA:
            # a firmware offer: nothing committed here (its release number
            # is the anti-rollback floor, ota/). Stored for the updater,
            # which takes it once this service has unloaded (never both
            # loaded: docs/memory.md); its refusals go to state key 15
            ota = self.link.ota
            if ota is None:
                return reasons.OTA_NO_KEY
            from ota import offer

            try:
                offer.store(ota.plane.port.flash_dir() + "/ota", msg)
            except errors.GateError as e:  # flash full or failing: the fleet offers again
                self.link.last_error = [kind, reasons.OTA_SPACE, 0]
                self.log("control %d: offer not stored: %s" % (kind, e.detail))
                self._state_changed()
                return reasons.OTA_SPACE
            msg = offer = None
            self.handed_over = True  # no quiet period: the updater waits for the unload
            ota.on_offer()
            return reasons.OK
        if kind == envelope.KIND_COMMAND:
            try:
                self.state.commit(msg)  # before running it: a replay never runs twice
            except errors.GateError as e:
                self._reply(msg.version, e.reason, "cannot record command")
                return e.reason
            self._run_command(msg)
            return reasons.OK
        self.pending.pop(kind, None)  # a newer message of this kind wins
        if self._missing(msg):
            self.pending[kind] = msg
            self._next_fetch()
            return reasons.OK
        self._commit(msg)
        self._next_fetch()
        return reasons.OK

    def _refs(self, msg):
        refs = ()
        if msg.kind == envelope.KIND_REVOCATION or msg.kind == envelope.KIND_DCC:
            refs = (msg.body.get(1), msg.body.get(2))
        elif msg.kind == envelope.KIND_CONFIG:
            refs = (msg.body.get(6),)
        return [r for r in refs if r is not None]

    def _missing(self, msg):
        from control import blob

        return [r for r in self._refs(msg) if not blob.have(self.root, r)]

    def _tables_ok(self, msg):
        """A DCC trust table is checked whole before its message commits: a
        bad one is refused (CTRL_MALFORMED, state key 12; its blobs go) and
        the applied table stays in use."""
        if msg.kind != envelope.KIND_DCC:
            return True
        from verify import dsc

        try:
            dsc.check_files(self.root, msg.body)
            return True
        except errors.GateError as e:
            reason = e.reason if isinstance(e, errors.ControlError) else reasons.INTERNAL
            self.link.last_error = [msg.kind, reason, msg.version]
            self.log("control %d refused: %s %s" % (msg.kind, reasons.name(reason), e.detail))
        self._cleanup()  # its blobs, unless the applied table names them too
        self._state_changed()
        return False

    def _commit(self, msg):
        if not self._tables_ok(msg):
            return False
        try:
            self.state.commit(msg)
        except errors.GateError as e:  # flash full or failing: keep the old state
            self.link.last_error = [msg.kind, e.reason, msg.version]
            self.log("control %d: commit failed: %s" % (msg.kind, e.detail))
            self._state_changed()
            return False
        self.link.last_error = None
        self.log("control %d: version %d applied" % (msg.kind, msg.version))
        if self.on_applied is not None:
            try:
                self.on_applied(msg.kind)
            except Exception as e:  # noqa: the app logs; state is committed
                self.log("control %d: on_applied failed: %r" % (msg.kind, e))
        self._cleanup()
        self.link.state_errors()  # the rebuild and clean-up read files back from flash
        self._state_changed()
        return True

    # -- blobs ----------------------------------------------------------------
    def _next_fetch(self):
        """Commit pending messages whose blobs are all here; fetch the next
        missing blob (one at a time, in kind order)."""
        from control import blob

        wanted = []
        for kind in sorted(self.pending):
            msg = self.pending[kind]
            missing = self._missing(msg)
            if not missing:
                del self.pending[kind]
                self._commit(msg)
            else:
                wanted += missing
        rx = self.receiver
        if rx is not None:
            for ref in wanted:
                if ref[1] == rx.sha:
                    return  # keep the transfer in progress
            rx.abort()
            self.receiver = None
        if wanted:
            self.receiver = blob.BlobReceiver(self.root, wanted[0])
            self._request()

    def _request(self):
        self._fetch_ms = ticks_ms()
        if self.client is not None and self.receiver is not None:
            self.client.publish("gg/v1/dev/" + self.device_id + "/fetch",
                                self.receiver.fetch_request(), 1)

    def on_chunk(self, payload):
        rx = self.receiver
        if rx is None:
            return
        from codec import cbor

        before = rx.next
        try:
            chunk = cbor.loads(payload)
            done = rx.add(chunk)
        except errors.GateError as e:
            self.link.last_error = [0, e.reason, 0]
            self.log("blob chunk refused: %s" % e.detail)
            if isinstance(e, errors.StoreError):
                self.receiver = None  # retried by step() after _FETCH_RETRY_MS
            return
        if rx.next != before:
            self._fetch_ms = ticks_ms()  # progress: no retry yet
        if not done:
            if rx.next and rx.next % 16 == 0 and type(chunk) is dict and chunk.get(2) == rx.next - 1:
                self._request()  # window consumed: ask for the next one
            return
        self.receiver = None
        self._next_fetch()

    def _cleanup(self):
        # blobs no applied message names any more
        import os

        keep = []
        for kind, key in ((envelope.KIND_REVOCATION, 1), (envelope.KIND_REVOCATION, 2),
                          (envelope.KIND_CONFIG, 6), (envelope.KIND_DCC, 1), (envelope.KIND_DCC, 2)):
            try:
                body = self.state.body(kind)
            except Exception:  # noqa: unreadable: keep everything
                return
            if body is None and kind in self.state.errors:
                return  # its file is lost: keep the blobs for its re-delivery
            if body is not None and type(body) is dict and body.get(key) is not None:
                keep.append(_blob_name(body[key][1]))
        for msg in self.pending.values():
            for ref in self._refs(msg):
                keep.append(_blob_name(ref[1]))
                keep.append(_blob_name(ref[1]) + ".part")
        try:
            names = os.listdir(self.root)
        except OSError:
            return
        for name in names:
            if name.startswith("blob_") and name not in keep:
                try:
                    os.remove(self.root + "/" + name)
                except OSError:
                    pass

    # -- commands -------------------------------------------------------------
    def _run_command(self, msg):
        code = msg.body.get(1)
        args = msg.body.get(2) or {}
        if code == 1:  # sync now
            if self.receiver is not None:
                self._request()
            self._state_changed()
            self._reply(msg.version, reasons.OK, "sync")
            return
        if self.on_command is None:
            self._reply(msg.version, reasons.INTERNAL, "no command handler")
            return
        try:
            status, detail, data = self.on_command(code, args)
        except Exception as e:  # noqa: a failing command is answered, not fatal
            self._reply(msg.version, reasons.INTERNAL, ("%r" % (e,))[:64])
            return
        if data:
            self._reply_chunks(msg.version, status, detail, data, args.get(1) or _REPLY_CHUNK)
        else:
            self._reply(msg.version, status, detail)

    def _reply(self, version, status, detail):
        from codec import cbor

        self._replies.append(cbor.dumps({1: version, 2: status, 3: (detail or "")[:64]}))
        self._wake.set()

    def _reply_chunks(self, version, status, detail, data, size):
        import hashlib
        from codec import cbor

        size = max(256, min(_REPLY_CHUNK, size))
        count = (len(data) + size - 1) // size
        for i in range(count):
            m = {1: version, 2: status, 3: (detail or "")[:64], 4: [i, count],
                 5: bytes(data[i * size:(i + 1) * size])}
            if i == 0:
                m[6] = hashlib.sha256(data).digest()
            self._replies.append(cbor.dumps(m))
        self._wake.set()

    async def _flush_replies(self):
        while self._replies and self.client is not None:
            pid = self.client.publish("gg/v1/dev/" + self.device_id + "/reply", self._replies[0], 1)
            if not pid:
                await asyncio.sleep_ms(200)  # every QoS 1 slot busy: wait
                continue
            self._replies.pop(0)

    def take_replies(self):
        """Queued reply payloads (tests and clients without asyncio)."""
        out = self._replies
        self._replies = []
        return out

    def _state_changed(self):
        if self.reporter is not None and hasattr(self.reporter, "publish_state"):
            try:
                self.reporter.publish_state()
            except Exception:  # noqa: state is re-published periodically anyway
                pass


def _blob_name(sha):
    from control import blob

    return "blob_%s.bin" % blob.hexid(sha)


def _check_trust(body):
    if type(body) is not list or not body:
        raise errors.ControlError(reasons.CTRL_MALFORMED, "trust list must be a non-empty array")
    for it in body:
        if (type(it) is not list or len(it) != 4 or type(it[0]) is not bytes
                or not 1 <= len(it[0]) <= 16 or type(it[1]) is not bytes or len(it[1]) != 32
                or type(it[2]) is not str or not 1 <= len(it[2]) <= 32
                or type(it[3]) is not int or it[3] < 0):
            raise errors.ControlError(reasons.CTRL_MALFORMED, "bad trust entry")


def _check_offer(body):
    # {1: manifest bytes | 4: manifest blob ref, 2: payload blob ref, 3: campaign id};
    # the refs and the manifest are checked by ota/ (OTA_* reasons)
    if (type(body) is not dict or type(body.get(2)) is not dict
            or type(body.get(3)) is not int or body[3] < 0
            or not (type(body.get(1)) is bytes or type(body.get(4)) is dict)):
        raise errors.ControlError(reasons.CTRL_MALFORMED, "bad firmware offer")


def _check_command(body):
    if type(body) is not dict or type(body.get(1)) is not int or not 1 <= body[1] <= 5:
        raise errors.ControlError(reasons.CTRL_MALFORMED, "unknown command")
    args = body.get(2, {})
    if args is not None and type(args) is not dict:
        raise errors.ControlError(reasons.CTRL_MALFORMED, "command args must be a map")
