"""The embedded broker for demos and laptops: amqtt, in-process, on its own
asyncio loop in a daemon thread.

With `lookup` (username -> stored `$7$` hash, e.g. from the device registry)
it refuses anonymous clients and enforces the protocol's per-device topic
ACL (amqtt_acl.py), like the generated mosquitto configuration; without it
(tests of the bridge alone) it is anonymous.

Limits (why production uses mosquitto 2, see mosquitto_conf.py): amqtt speaks
MQTT 3.1.1 only, has no shared subscriptions (`$share/...` would be a plain,
never-matching filter, so the bridge subscribes without it and runs as one
worker), and moved ~1,400 QoS 1 msg/s in our measurements. It listens on
loopback by default.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from fleet.core import errors


class _SnapshotDict(dict):
    """amqtt 0.12 iterates its subscription table with awaits inside the loop
    (retained messages on connect, topic filtering on broadcast); a client
    subscribing to a new topic meanwhile raised "dictionary changed size
    during iteration" and killed that connection or broadcast. Iterating
    over a copy of the keys makes those loops safe."""

    def __iter__(self):  # noqa: ANN204
        return iter(list(super().keys()))

    def items(self):  # noqa: ANN201
        return list(super().items())

    def keys(self):  # noqa: ANN201
        return list(super().keys())

    def values(self):  # noqa: ANN201
        return list(super().values())


def _broker_class():  # noqa: ANN202 (amqtt is imported lazily)
    import asyncio as aio

    from amqtt.broker import Broker
    from amqtt.contexts import Action
    from amqtt.errors import AMQTTError, MQTTError
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
    from amqtt.utils import gen_client_id

    class FleetAmqttBroker(Broker):
        """amqtt 0.12 sends a connecting client the retained messages of every
        topic *anyone* subscribed to, without topic filtering: every gate
        would get every other gate's configuration. Retained messages go
        only to a session that subscribed to the filter itself, and only
        those its ACL lets it receive.

        It also dropped the session of the client id a CONNECT names (clean
        session) or took over its connection *before* checking credentials:
        gate A's password with the bridge's client id kicked the bridge even
        though A was then refused. Credentials (and client id = username,
        amqtt_acl.py) are checked here first; only then does amqtt touch
        its session table."""

        async def _initialize_client_session(self, reader, writer, remote_address, remote_port):  # noqa: ANN001, ANN202
            try:
                handler, session = await BrokerProtocolHandler.init_from_connect(
                    reader, writer, self.plugins_manager)
            except (AMQTTError, MQTTError) as exc:
                await writer.close()
                raise AMQTTError(exc) from exc
            if not await self._authenticate(session, None):
                session.parent = 0
                handler.attach(session, reader, writer)
                await handler.mqtt_connack_authorize(False)
                await writer.close()
                raise AMQTTError("not authorised")
            # from here on as amqtt 0.12's own _initialize_client_session
            if session.clean_session:
                if session.client_id:
                    await self._delete_session(session.client_id)
                else:
                    session.client_id = gen_client_id()
                session.parent = 0
            elif session.client_id in self._sessions:
                old, _ = self._sessions[session.client_id]
                for attr in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive",
                             "username", "password"):
                    setattr(old, attr, getattr(session, attr))
                session = old
                session.parent = 1
            else:
                session.parent = 0
            delay = self.config.get("timeout-disconnect-delay", 0)
            if session.keep_alive > 0 and isinstance(delay, int):
                session.keep_alive += delay
            return handler, session

        async def _publish_retained_messages_for_subscription(self, subscription, session):  # noqa: ANN001, ANN202
            topic_filter, qos = subscription
            if not any(s.client_id == session.client_id
                       for s, _ in self._subscriptions.get(topic_filter, [])):
                return
            handler = self._get_handler(session)
            if handler is None:
                return
            tasks = []
            for topic, retained in list(self._retained_messages.items()):
                if self._matches(topic, topic_filter) and \
                        await self._topic_filtering(session, topic=topic, action=Action.RECEIVE):
                    tasks.append(aio.ensure_future(handler.mqtt_publish(
                        retained.topic, retained.data, min(qos, retained.qos or qos), retain=True)))
            if tasks:
                await aio.wait(tasks)

    return FleetAmqttBroker


class EmbeddedBroker:
    def __init__(self, port: int = 1883, host: str = "127.0.0.1",
                 lookup: Callable[[str], str | None] | None = None) -> None:
        self.host, self.port = host, port
        self.lookup = lookup
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "EmbeddedBroker":
        # amqtt logs every packet at INFO: keep ours quiet unless asked.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="amqtt", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise errors.BrokerError("embedded broker did not start")
        if self._error is not None:
            raise errors.BrokerError(f"embedded broker failed: {self._error}") from self._error
        return self

    def _run(self) -> None:
        Broker = _broker_class()  # noqa: N806

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        if self.lookup is None:
            plugins: dict = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        else:
            plugins = {"fleet.broker_bridge.amqtt_acl.FleetAuthPlugin": {"lookup": self.lookup},
                       "fleet.broker_bridge.amqtt_acl.FleetTopicPlugin": {}}
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": plugins,
        }

        async def boot() -> None:
            self._broker = Broker(config)
            self._broker._subscriptions = _SnapshotDict()  # see _SnapshotDict
            await self._broker.start()

        try:
            self._loop.run_until_complete(boot())
        except BaseException as e:  # reported to start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None or self._broker is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread:
                self._thread.join(10)
