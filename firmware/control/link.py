# The control plane's resident part (docs/protocol.md 5-6). Signed control
# messages are rare (the retained ones at each MQTT connect, and what the
# fleet publishes), so on a running device only this stays loaded: the
# control topics and their routing, and what the device reports (state keys
# 3 applied versions, 12 last error, 13 blob fetch).
#
#   link = ControlLink(state, load, quiet_ms, log, event)
#   link.attach(client, reporter)   subscribe, route client.message_cb here
#   link.state_fields()             {3: ..., 12: ..., 13: ...}
#
# A message over the MQTT packet cap never arrives: the protocol layer
# drops it unread (net/mqtt.py) and on_oversize reports it here, as
# CTRL_MALFORMED in state key 12 (a command also gets a reply) without
# loading anything.
#
# A message or blob chunk that needs work loads the service
# (control/service.py, built by load(link)) and runs it in a task of its
# own; the service ends that task once nothing is pending (no message queued
# or waiting for its blobs, no fetch, no reply to send) and no message came
# for quiet_ms, and its modules are unloaded again (docs/memory.md).
# The applied message re-delivered (same bytes: a retained message at each
# connect) is dropped here without loading anything, as the service would
# drop it (envelope.verify_message returns None for it). If the service
# cannot load (no heap for its modules), the newest message of each kind
# waits and the load is tried again with backoff (2 s doubling to 60 s).
import asyncio
import gc

from verify import reasons

# imported only while messages are handled: dropped when the service ends
_RARE = ("app.controlservice", "control.service", "control.envelope", "control.blob",
         "app.provisioned", "ota.offer")
_WAIT_COMMANDS = 4  # commands kept while the service cannot load; more are dropped


def topics(device_id):
    d = "gg/v1/dev/" + device_id + "/"
    return (d + "cmd", d + "config", d + "blob", d + "ota", "gg/v1/fleet/trust",
            "gg/v1/fleet/revocation", "gg/v1/fleet/dcc")


def kind_of(topic, device_id):
    """Control kind for a topic, 0 for blob chunks, None if not ours."""
    if topic == "gg/v1/fleet/trust":
        return 2
    if topic == "gg/v1/fleet/revocation":
        return 3
    if topic == "gg/v1/fleet/dcc":
        return 7
    prefix = "gg/v1/dev/" + device_id + "/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix):]
    if rest == "blob":
        return 0
    # tests, not a dict: a module-level dict is a heap table for good
    if rest == "config":
        return 1
    if rest == "cmd":
        return 4
    if rest == "ota":
        return 8
    return None


def unload_service():
    from app import unload

    unload(*_RARE)
    gc.collect()


class ControlLink:
    def __init__(self, state, load=None, quiet_ms=30000, log=None, event=None):
        self.state = state
        self.device_id = state.device_id
        self.load = load  # link -> ControlService; None: one is attached for good
        self.quiet_ms = quiet_ms
        self.log = log or (lambda *_a: None)
        self.event = event
        self.client = None
        self.reporter = None
        self.svc = None  # the loaded service, or None
        self.ota = None  # ota/link.py OtaLink: update offers and their chunks
        self.sessions = 0
        # reported state that outlives a load of the service
        self.last_error = None  # [kind, reason, version]: state key 12
        self.dropped = 0        # commands dropped from a full inbox
        self._lost = None       # state file error already logged
        self._waiting = None    # [[kind, payload]] kept while the service cannot load
        self.retry_ms = 2000    # first retry of a failed load (doubles to 60 s)
        self.state_errors()     # files found unusable at start

    def attach(self, client, reporter=None):
        self.client = client
        self.reporter = reporter
        if self.svc is not None:
            self.svc.client, self.svc.reporter = client, reporter
        client.message_cb = self.on_message
        client.oversize_cb = self.on_oversize
        for t in topics(self.device_id):
            client.subscribe(t, 1)

    def on_message(self, topic, payload, retained=False):
        kind = kind_of(topic, self.device_id)
        if kind is None:
            return
        ota = self.ota
        if ota is not None:
            if not kind:
                ota.on_chunk(payload)  # ignored unless it is the update's blob
            elif kind == 8 and (not payload or ota.seen(payload)):
                # empty: the fleet withdrew its retained offer; or the offer
                # in hand again (retained, re-delivered at connect)
                return
        svc = self.svc
        if svc is None:
            if not kind:
                return  # a blob chunk while nothing is fetched (the service ignores it too)
            rec = self.state.applied(kind)
            if rec is not None and rec[1] == _digest(payload):
                return  # the applied message again: nothing to do
            if self._waiting is not None:
                self._keep(kind, payload)  # behind the ones already waiting
                return
            svc = self._start(kind)
            if svc is None:
                self._keep(kind, payload)
                return
        svc.receive(kind, payload)

    def on_oversize(self, topic, size, retained=False):
        """A message of `size` bytes over the MQTT packet cap on `topic`
        (None: too long to keep), dropped unread by net/mqtt.py. A retained
        one comes at every connect: reported, never a reason to reconnect."""
        kind = kind_of(topic, self.device_id) if topic else None
        self.log("MQTT message of %d bytes over the cap dropped: %s" % (size, topic))
        if kind is None:
            return  # not a control topic (the ack topic, another device): logged only
        self.last_error = [kind, reasons.CTRL_MALFORMED, 0]
        if kind == 4 and self.client is not None:
            # as a command refused unread: reply version 0 (protocol 4.3)
            from codec import cbor
            from net import topics as net_topics

            self.client.publish(net_topics.reply(self.device_id),
                                cbor.dumps({1: 0, 2: reasons.CTRL_MALFORMED, 3: "too large"}), 1)
        if self.reporter is not None:
            self.reporter.publish_state()

    def _start(self, kind):
        try:
            svc = self.load(self)
        except Exception as e:  # noqa: e.g. MemoryError while importing it
            self.last_error = [kind, reasons.INTERNAL, 0]
            if self._waiting is None:  # once per streak of failures
                self.log("control service cannot load: %r" % (e,))
            unload_service()
            return None
        svc.client, svc.reporter = self.client, self.reporter
        self.svc = svc
        self.sessions += 1
        asyncio.create_task(self._session(svc))
        if self.event is not None:
            self.event("control_service", {"loaded": True, "sessions": self.sessions})
        return svc

    def _keep(self, kind, payload):
        # The service could not load (most likely a fragmented heap): keep
        # the newest message of each kind (its buffer is already allocated)
        # and try again later, instead of losing a config or command that
        # nothing would send again before the next reconnect.
        # (the service's inbox rule: a newer list supersedes the waiting one
        # of its kind, commands queue, at most _WAIT_COMMANDS of them)
        if self._waiting is None:
            self._waiting = []
            asyncio.create_task(self._retry(self.retry_ms))
        waiting = self._waiting
        if kind != 4:
            for item in waiting:
                if item[0] == kind:
                    item[1] = payload
                    return
        elif sum(1 for k, _ in waiting if k == 4) >= _WAIT_COMMANDS:
            self.dropped += 1
            return
        waiting.append([kind, payload])

    async def _retry(self, first_ms, max_ms=60000):
        wait = first_ms
        while True:
            await asyncio.sleep_ms(wait)
            wait = min(wait * 2, max_ms)
            gc.collect()
            svc = self.svc
            if svc is None:
                svc = self._start(self._waiting[0][0])
                if svc is None:
                    continue
            waiting, self._waiting = self._waiting, None
            self.log("control service loaded: %d waiting message(s) handed over" % len(waiting))
            for kind, payload in waiting:
                svc.receive(kind, payload)
            return

    async def _session(self, svc):
        try:
            await svc.run(self.quiet_ms)
        finally:
            svc = None
            self.svc = None
            unload_service()
            if self.event is not None:
                self.event("control_service", {"loaded": False, "sessions": self.sessions})

    def state_fields(self):
        svc = self.svc
        return {3: self.state.versions(), 12: self.last_error,
                13: svc.fetching() if svc is not None else None}

    def state_errors(self):
        # An applied message whose file went missing or corrupt counts as not
        # applied (the decider refuses every pass until it applies again):
        # say so in the log (once per cause) and in state key 12.
        st = self.state
        if not st.errors:
            return
        self.last_error = [st.errors[-1], reasons.INTERNAL, 0]
        if st.last_error != self._lost:
            self._lost = st.last_error
            self.log("control state: %s" % st.last_error)


def _digest(data):
    import hashlib

    return hashlib.sha256(data).digest()[:16]
