"""Per-device credentials and the protocol's topic ACL for the embedded amqtt
broker (amqtt plugins), so the demo broker enforces what mosquitto_conf.py
generates for production: password = the same `$7$` hashes from the device
registry; a device publishes only its own scans/state/reply/fetch topics and
subscribes to / receives only its own cmd/config/blob topics and the fleet
trust and revocation topics; the fleet bridge user may use all of `gg/v1/`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from . import topics
from .mosquitto_conf import BRIDGE_USER, check_password_hash

DEVICE_WRITE = ("scans", "state", "reply", "fetch")
DEVICE_READ = ("cmd", "config", "blob", "ack")

# username -> stored "$7$" hash, or None (unknown / retired)
HashLookup = Callable[[str], "str | None"]


def allowed(username: str | None, topic: str | None, action: Action) -> bool:
    if not username or not topic:
        return False
    if username == BRIDGE_USER:
        filt = topic
        if filt.startswith("$share/"):  # $share/<group>/<filter>
            parts = filt.split("/", 2)
            filt = parts[2] if len(parts) == 3 else ""
        return filt.startswith(topics.ROOT + "/")
    own = f"{topics.ROOT}/dev/{username}/"
    if action == Action.PUBLISH:
        return topic.startswith(own) and topic[len(own):] in DEVICE_WRITE
    # SUBSCRIBE and RECEIVE: exact topics only (no wildcards for devices)
    if topic in (topics.TRUST, topics.REVOCATION):
        return True
    return topic.startswith(own) and topic[len(own):] in DEVICE_READ


class FleetAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        lookup: Any = None  # HashLookup

    async def authenticate(self, *, session: Any) -> bool:
        user, password = session.username, session.password
        if not user or password is None:
            return False  # no anonymous clients
        lookup: HashLookup = self.context.config.lookup
        stored = await asyncio.to_thread(lookup, user)  # a database read: off the broker loop
        return stored is not None and check_password_hash(stored, password)


class FleetTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        enabled: bool = True

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        return allowed(session.username if session else None, topic, action)
