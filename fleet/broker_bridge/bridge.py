"""The broker bridge: MQTT <-> database.

Ingest (device -> fleet): QoS 1 subscriptions, through a shared subscription
(`$share/greengate/...`) when the broker has them so several workers (each
with its own fleet account) split the load. Every message is checked against
its schema (schema.py) first; a transaction commits a batch of messages and
only then the bridge publishes the end-to-end acknowledgement of the scans it
holds on each gate's `gg/v1/dev/{id}/ack` (protocol 4.4). The gate keeps a
record until that ack, so the broker may lose anything (restart, session,
shared-subscription quirk): the gate resends, and the fleet stays idempotent
on (device, seq) (INSERT ... ON CONFLICT DO NOTHING; duplicates are acked
too). Hence the bridge's session is CLEAN, its client id is its username,
and it reconnects within seconds (capped backoff) and re-subscribes.

A message that still fails at the database is isolated: the batch is retried
message by message and the one the database refuses (DataError,
IntegrityError...) is set aside in the dead-letter table with an alert; a
database that is down (OperationalError...) keeps the whole batch retrying
with a capped backoff. health.py tells /healthz and /metrics whether the
bridge makes progress.

Publish (fleet -> device): a thread drains the control outbox (rows written
by the API in the same transaction as the change), signs each message with
the fleet key, publishes it (QoS 1, retained for config / trust /
revocations) and marks it published once the broker has acknowledged it.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fleet.core import errors
from fleet.core.logging import log
from fleet.core.metrics import REGISTRY
from fleet.models import Blob, ControlOutbox, Device, utcnow
from fleet.services import control, dead_letters
from fleet.services import devices as device_svc
from fleet.services import scans as scan_svc

from greengate.control import blobs

from . import health, schema, topics, wire

logger = logging.getLogger("greengate.fleet.bridge")
REGISTRY.describe("greengate_bridge_rejected_total", "counter",
                  "Device messages refused (malformed, unknown device), by code.")
REGISTRY.describe("greengate_bridge_batches_total", "counter", "Ingest transactions committed.")
REGISTRY.describe("greengate_bridge_dead_letters_total", "counter",
                  "Device messages set aside in the dead-letter table, by code.")
REGISTRY.describe("greengate_bridge_acks_total", "counter", "End-to-end scan acks published (4.4).")
REGISTRY.describe("greengate_bridge_db_failures_total", "counter",
                  "Ingest transactions that failed, by kind (down = retried, refused = isolated).")
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 5   # paho's backoff: seconds, not tens of seconds
RETRY_MAX_S = 5.0                          # database down: retry the batch at most this far apart


def _short(e: BaseException) -> str:
    """The driver's first line, not the SQL statement with its rows."""
    cause = getattr(e, "orig", None) or e
    return f"{type(e).__name__}: {(str(cause).splitlines() or [''])[0][:200]}"


def database_down(e: BaseException) -> bool:
    """True for 'the database cannot store anything now' (down, or a schema
    the code does not match: retry the whole batch later), False for 'this
    data is refused' (DataError, IntegrityError...: isolate the message)."""
    if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
        return True
    return isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                          sa_exc.ProgrammingError, sa_exc.TimeoutError, ConnectionError))


@dataclass
class BrokerParams:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None

    @classmethod
    def from_url(cls, url: str, ca_file: str | None = None) -> "BrokerParams":
        """mqtt://[user:pass@]host[:1883] or mqtts://[user:pass@]host[:8883]."""
        u = urlparse(url)
        if u.scheme not in ("mqtt", "mqtts"):
            raise errors.ConfigError(f"broker URL must be mqtt:// or mqtts://, not {url!r}",
                                     code="BAD_BROKER_URL")
        tls = u.scheme == "mqtts"
        return cls(host=u.hostname or "127.0.0.1", port=u.port or (8883 if tls else 1883),
                   username=unquote(u.username) if u.username else None,
                   password=unquote(u.password) if u.password else None, tls=tls, ca_file=ca_file)


def _no_delay(client, userdata, sock) -> None:  # noqa: ANN001
    """Small packets (the end-to-end acks, PUBACKs) go out at once: with
    Nagle on, an ack waits for the TCP ACK of the previous packet, ~40 ms per
    batch (docs/outbox-and-mqtt.md)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (a test double): nothing to tune
        pass


def make_client(params: BrokerParams, client_id: str, *, clean_session: bool,
                manual_ack: bool = False) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    clean_session=clean_session, protocol=mqtt.MQTTv311, manual_ack=manual_ack)
    if params.username:
        c.username_pw_set(params.username, params.password)
    if params.tls:
        ctx = ssl.create_default_context(cafile=params.ca_file)
        c.tls_set_context(ctx)
    c.on_socket_open = _no_delay
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    return c


@dataclass
class BridgeStats:
    messages: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    published: int = 0
    chunks: int = 0
    batches: int = 0
    dead_letters: int = 0
    acks: int = 0
    errors: list = field(default_factory=list)


class Bridge:
    def __init__(self, sessions: sessionmaker[Session], broker: BrokerParams,
                 fleet_key: Ed25519PrivateKey | None, *, client_id: str | None = None,
                 shared: bool = True, group: str = topics.SHARE_GROUP, ingest: bool = True,
                 publish: bool = True, batch_max: int = 500, batch_wait_s: float = 0.02,
                 poll_s: float = 0.2, refresh_every_s: float = 300.0,
                 widen_acks: bool = True) -> None:
        self.sessions = sessions
        self.broker = broker
        self.fleet_key = fleet_key
        # The broker requires client id == username for every account (protocol 1).
        self.client_id = broker.username or client_id or f"greengate-bridge-{uuid.uuid4().hex[:8]}"
        self.shared, self.group = shared, group
        self.do_ingest, self.do_publish = ingest, publish and fleet_key is not None
        self.batch_max, self.batch_wait_s, self.poll_s = batch_max, batch_wait_s, poll_s
        self.refresh_every_s = refresh_every_s
        self.widen_acks = widen_acks  # scans.widen_acks: out-of-order commits still drain a gate
        self.stats = BridgeStats()
        self.health = health.BridgeHealth(self.client_id)
        self._inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._generation = 0  # MQTT connection count: a message id is only valid in its own
        self._threads: list[threading.Thread] = []
        self._sites: dict[str, int | None] = {}
        self._blobs: dict[str, bytes] = {}
        # Clean session: the end-to-end ack makes the gates resend what the
        # fleet did not commit; nothing relies on the broker keeping it.
        self.client = make_client(broker, self.client_id, clean_session=True, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- lifecycle ---------------------------------------------------------------
    def start(self, timeout: float | None = 10.0) -> "Bridge":
        """Connect (paho keeps retrying with its capped backoff) and start the
        threads. timeout None: do not wait for the first connection."""
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        if timeout is not None and not self._connected.wait(timeout):
            self.client.loop_stop()
            raise errors.BrokerError(f"no MQTT connection to {self.broker.host}:{self.broker.port}")
        health.register(self.health)
        if self.do_ingest:
            self._spawn(self._ingest_loop, "ingest")
        if self.do_publish:
            self._spawn(self._publish_loop, "publish")
        return self

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    def _spawn(self, target, name: str) -> None:  # noqa: ANN001
        t = threading.Thread(target=target, name=f"{self.client_id}-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        health.unregister(self.health)
        self.client.disconnect()
        self.client.loop_stop()

    def filters(self) -> list[str]:
        subs = [topics.SCANS_ALL, topics.STATE_ALL, topics.REPLY_ALL, topics.FETCH_ALL]
        return [topics.shared(s, self.group) if self.shared else s for s in subs]

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log(logger, "mqtt.connect_failed", logging.ERROR, reason=str(reason_code))
            return
        self._generation += 1
        if self.do_ingest:  # every connect: a clean session starts with no subscription
            client.subscribe([(f, 1) for f in self.filters()])
        self.health.connected, self.health.disconnected_since = True, None
        self._connected.set()
        log(logger, "mqtt.connected", client_id=self.client_id, shared=self.shared)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._connected.clear()
        self.health.connected = False
        self.health.disconnected_since = self.health.disconnected_since or time.time()
        if not self._stop.is_set():
            log(logger, "mqtt.disconnected", logging.WARNING, reason=str(reason_code))

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        self._inbox.put((msg, self._generation, time.time()))

    # -- ingest ------------------------------------------------------------------
    def _load_sites(self, db: Session, device_ids: set[str]) -> None:
        """One query for the devices of a batch not seen before (10,000 gates
        answering at once must not cost 10,000 lookups)."""
        missing = [d for d in device_ids if d not in self._sites]
        for i in range(0, len(missing), 1000):
            part = missing[i:i + 1000]
            for dev, site in db.execute(select(Device.id, Device.site_id).where(Device.id.in_(part))):
                self._sites[dev] = site

    def _site_of(self, device_id: str) -> tuple[bool, int | None]:
        if device_id not in self._sites:
            return False, None
        return True, self._sites[device_id]

    def _reject(self, msg: mqtt.MQTTMessage, code: str, detail: str) -> None:
        self._reject_topic(msg.topic, code, detail)

    def _reject_topic(self, topic: str, code: str, detail: str) -> None:
        self.stats.rejected += 1
        REGISTRY.inc("greengate_bridge_rejected_total", code=code)
        log(logger, "mqtt.rejected", logging.WARNING, topic=topic, code=code, detail=detail)

    def _take_batch(self) -> list[tuple[mqtt.MQTTMessage, int, float]]:
        """(message, connection generation, arrival time), up to batch_max."""
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max:
            left = deadline - time.monotonic()
            try:
                batch.append(self._inbox.get(timeout=max(left, 0)) if left > 0 else self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _ingest_loop(self) -> None:
        cache_born = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - cache_born > 30:  # devices move between sites
                self._sites.clear()
                cache_born = time.monotonic()
            taken = self._take_batch()
            if not taken:
                continue
            self.health.pending_since = min(arrived for _m, _g, arrived in taken)
            acks = self._store_until_done([m for m, _g, _a in taken])
            if acks is None:
                return  # stopping: never ack what was not committed
            self.publish_acks(acks)
            gen = self._generation
            for msg, msg_gen, _a in taken:  # a message id means nothing in a later connection
                if msg_gen == gen:
                    self.client.ack(msg.mid, msg.qos)

    def _store_until_done(self, batch: list[mqtt.MQTTMessage]) -> dict[str, set[int]] | None:
        """Commit the batch; a message the database refuses is isolated and
        dead-lettered; while the database is down, retry with a capped backoff."""
        delay = 0.25
        isolate = False
        while not self._stop.is_set():
            try:
                acks = self._isolate(batch) if isolate else self._process(batch)
                self.health.committed()
                return acks
            except Exception as e:
                self._sites.clear()
                self.health.failed(e)
                self.stats.errors.append(repr(e)[:200])
                if database_down(e):
                    REGISTRY.inc("greengate_bridge_db_failures_total", kind="down")
                    log(logger, "ingest.retry", logging.ERROR, error=type(e).__name__)
                    self._stop.wait(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                else:  # some message in it is refused: find it, one by one
                    REGISTRY.inc("greengate_bridge_db_failures_total", kind="refused")
                    log(logger, "ingest.isolate", logging.WARNING, error=type(e).__name__,
                        messages=len(batch))
                    isolate = True
        return None

    def _isolate(self, batch: list[mqtt.MQTTMessage]) -> dict[str, set[int]]:
        acks: dict[str, set[int]] = {}
        for msg in batch:
            try:
                got = self._process([msg])
            except Exception as e:
                if database_down(e):
                    raise
                got = self._dead_letter_alone(msg, "DB_REFUSED", _short(e))
            for dev, seqs in got.items():
                acks.setdefault(dev, set()).update(seqs)
        return acks

    def _dead_letter_alone(self, msg: mqtt.MQTTMessage, code: str, error: str) -> dict[str, set[int]]:
        """Set one message aside in its own transaction; the scans seqs it
        holds (when readable) are acknowledged: they are durably kept. If even
        that is refused the message is dropped unacked (the gate keeps it)."""
        device_id = topics.device_of(msg.topic) or ""
        try:
            with self.sessions() as db:
                kept = self._set_aside(db, device_id, msg, code, error)
                db.commit()
        except Exception as e:
            if database_down(e):
                raise
            self._reject(msg, "DEAD_LETTER_REFUSED", _short(e))
            return {}
        seqs = schema.readable_seqs(msg.payload) if kept and msg.topic.endswith("/scans") else []
        return {device_id: set(seqs)} if seqs else {}

    def _set_aside(self, db: Session, device_id: str, msg: mqtt.MQTTMessage, code: str,
                   error: str) -> bool:
        """True when the message is kept (False: the device is over its cap,
        so its scan seqs must not be acked: the gate keeps them)."""
        row = dead_letters.set_aside(db, device_id, msg.topic, msg.payload, code, error)
        self.stats.dead_letters += 1
        self.health.dead_letters += 1
        REGISTRY.inc("greengate_bridge_dead_letters_total", code=code)
        log(logger, "ingest.dead_letter", logging.WARNING, device=device_id, code=code,
            kept=row is not None)
        return row is not None

    def publish_acks(self, acks: dict[str, set[int]]) -> int:
        """The end-to-end acks (protocol 4.4), QoS 0, after the commit: one per
        device and contiguous seq range. Lost ones cost a resend, nothing else."""
        ranges = {d: wire.ack_ranges(seqs) for d, seqs in acks.items() if seqs}
        if ranges and self.widen_acks:
            try:
                with self.sessions() as db:
                    ranges = scan_svc.widen_acks(db, ranges)
            except Exception as e:  # the plain ranges are right too, only narrower
                log(logger, "ack.widen_failed", logging.WARNING, error=type(e).__name__)
        n = 0
        for device_id, dev_ranges in ranges.items():
            for first, last in dev_ranges:
                self.client.publish(topics.ack(device_id), wire.encode_ack(first, last), qos=0)
                n += 1
        self.stats.acks += n
        self.health.acks += n
        REGISTRY.inc("greengate_bridge_acks_total", n)
        return n

    def process_messages(self, batch: list[mqtt.MQTTMessage]) -> None:
        """Store a batch in one transaction and publish its acks (public for
        tests and benchmarks)."""
        self.publish_acks(self._process(batch))

    def _process(self, batch: list[mqtt.MQTTMessage]) -> dict[str, set[int]]:
        """One transaction; returns the scan seqs to acknowledge per device."""
        now = int(time.time())
        rows: list[dict] = []
        seen: set[tuple[str, int]] = set()
        acks: dict[str, set[int]] = {}
        batch_dups = 0  # the same (device, seq) twice inside this batch
        fetches: list[tuple[str, object]] = []
        with self.sessions() as db:
            self._load_sites(db, {d for d in (topics.device_of(m.topic) for m in batch) if d})
            # Devices that sent a state, loaded in one query and held in `loaded`
            # (the identity map is weak) until the commit: apply_state's
            # Session.get then finds them without a SELECT and an autoflush per
            # message, and the commit sends their UPDATEs as one executemany.
            states = {topics.device_of(m.topic) for m in batch if m.topic.endswith("/state")} - {None}
            loaded = db.scalars(select(Device).where(Device.id.in_(states))).all() if states else []
            for msg in batch:
                device_id = topics.device_of(msg.topic)
                leaf = msg.topic.rsplit("/", 1)[-1]
                if device_id is None:
                    self._reject(msg, "BAD_TOPIC", "")
                    continue
                known, site_id = self._site_of(device_id)
                if not known:
                    self._reject(msg, "UNKNOWN_DEVICE", device_id)
                    continue
                try:
                    if leaf == "scans":
                        sb = schema.scan_batch(device_id, msg.payload)
                        for e in sb.events:
                            if (device_id, e["seq"]) in seen:
                                batch_dups += 1
                                continue
                            seen.add((device_id, e["seq"]))
                            rows.append({**e, "device_id": device_id, "site_id": site_id,
                                         "received_at": now})
                        acked = sb.seqs
                        if sb.bad:  # the good entries are stored, the message is kept aside
                            self._reject(msg, "BAD_SCAN", sb.bad[0][:120])
                            if not self._set_aside(db, device_id, msg, "BAD_SCAN", "; ".join(sb.bad)):
                                acked = [e["seq"] for e in sb.events]
                        acks.setdefault(device_id, set()).update(acked)
                    elif leaf == "state":
                        if msg.payload:  # empty = retained state cleared
                            d = device_svc.apply_state(db, device_id, wire.decode_state(msg.payload))
                            if d.status == "retired":  # its Last Will, sent when it was cut off
                                control.enqueue_clear_retained(db, d, (topics.state(device_id),))
                    elif leaf == "reply":
                        device_svc.store_reply(db, device_id, wire.decode_reply(msg.payload))
                    elif leaf == "fetch":
                        fetches.append((device_id, schema.fetch(msg.payload)))
                    else:
                        self._reject(msg, "BAD_TOPIC", leaf)
                except errors.FleetError as e:
                    self._reject(msg, e.code, e.message[:120])
                    kept = self._set_aside(db, device_id, msg, e.code, e.message)
                    if kept and leaf == "scans":  # its seqs, if readable, are kept in the dead letter
                        acks.setdefault(device_id, set()).update(schema.readable_seqs(msg.payload))
            res = scan_svc.ingest_rows(db, rows) if rows else scan_svc.IngestResult(0, 0)
            db.commit()
            del loaded
            for device_id, req in fetches:
                self._answer_fetch(db, device_id, req)
        self.stats.messages += len(batch)
        self.stats.inserted += res.inserted
        self.stats.duplicates += res.duplicates + batch_dups
        self.stats.batches += 1
        REGISTRY.inc("greengate_scans_ingested_total", res.inserted)
        REGISTRY.inc("greengate_scans_duplicate_total", res.duplicates + batch_dups)
        REGISTRY.inc("greengate_bridge_batches_total")
        return {d: s for d, s in acks.items() if s}

    def _blob(self, db: Session, sha_hex: str) -> bytes | None:
        """A blob by its SHA-256, checked once when it is loaded (the cache
        then answers every fetch of it without hashing it again)."""
        data = self._blobs.get(sha_hex)
        if data is None:
            row = db.get(Blob, sha_hex)
            if row is None:
                return None
            data = row.data
            if hashlib.sha256(data).hexdigest() != sha_hex:  # a damaged row: never served
                log(logger, "blob.damaged", logging.ERROR, sha256=sha_hex[:16])
                return None
            if len(self._blobs) > 64:
                self._blobs.clear()
            self._blobs[sha_hex] = data
        return data

    def _answer_fetch(self, db: Session, device_id: str, req: blobs.FetchRequest) -> None:
        """Blob chunks on gg/v1/dev/{id}/blob (docs/protocol.md section 6).
        QoS 1, not retained; the device re-asks after 10 s without progress."""
        data = self._blob(db, req.sha256.hex())
        if data is None:
            self._reject_topic(topics.fetch(device_id), "UNKNOWN_BLOB", req.sha256.hex()[:16])
            return
        for chunk in blobs.answer_fetch(req, data, checked=True):
            self.client.publish(topics.blob(device_id), chunk, qos=1)
        self.stats.chunks += 1

    # -- publish -----------------------------------------------------------------
    def refresh(self) -> int:
        """Queue re-signed lists that are due (control.enqueue_refresh)."""
        with self.sessions() as db:
            rows = control.enqueue_refresh(db)
            db.commit()
        return len(rows)

    def _publish_loop(self) -> None:
        next_refresh = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_refresh:
                    self.refresh()
                    next_refresh = time.monotonic() + self.refresh_every_s
                n = self.publish_pending()
            except Exception as e:  # broker or database trouble: try again shortly
                self.stats.errors.append(repr(e)[:200])
                log(logger, "publish.retry", logging.ERROR, error=type(e).__name__)
                n = 0
            if n == 0:
                self._stop.wait(self.poll_s)

    def publish_pending(self, limit: int = 500) -> int:
        """Sign and publish unpublished outbox rows, oldest first; returns how
        many were published. Each row is marked only after the broker's PUBACK."""
        with self.sessions() as db:
            q = (select(ControlOutbox).where(ControlOutbox.published_at.is_(None))
                 .order_by(ControlOutbox.id).limit(limit))
            if db.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)  # several bridges: each row once
            rows = db.scalars(q).all()
            # Pipelined: all rows of the batch go out, then the PUBACKs are
            # awaited in order and the acknowledged prefix is marked in one
            # commit. A crash re-sends at most one batch: gates ignore a
            # version they already applied (replay rule), and a clear is
            # idempotent.
            sent = []
            for row in rows:
                if row.kind == "clear":
                    payload = b""  # deletes the retained message
                else:
                    if row.signed is None:
                        row.signed = wire.sign_control(row.kind, row.id, row.body, self.fleet_key,
                                                       lambda sha: self._blob(db, sha))
                    payload = row.signed
                sent.append((row, self.client.publish(row.topic, payload, qos=1, retain=row.retain)))
            done = 0
            try:
                for row, info in sent:
                    info.wait_for_publish(10)
                    if not info.is_published():
                        raise errors.BrokerError("publish not acknowledged")
                    row.published_at = utcnow()
                    done += 1
                    REGISTRY.inc("greengate_control_published_total", kind=row.kind)
            finally:
                db.commit()  # the acknowledged prefix (and signatures made) stay
                self.stats.published += done
            return len(rows)
