"""Per-device credentials and the protocol's topic ACL for the embedded amqtt
broker (amqtt plugins), so the demo broker enforces what mosquitto_conf.py
generates for production: password = the same `$7$` hashes from the device
registry; client id = username or the connection is refused (no session
takeover); a device publishes only its own scans/state/reply/fetch topics and
subscribes to / receives only its own cmd/config/blob/ack/ota topics and the
fleet trust and revocation topics (exact names: no wildcard, no `$share/`);
fleet accounts (`fleet-*`) may use all of `gg/v1/`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from . import topics
from .mosquitto_conf import DEVICE_READ, DEVICE_WRITE, FLEET_READ, check_password_hash, is_fleet_user

# username -> stored "$7$" hash, or None (unknown / retired)
HashLookup = Callable[[str], "str | None"]


def allowed(username: str | None, topic: str | None, action: Action) -> bool:
    if not username or not topic:
        return False
    if is_fleet_user(username):
        filt = topic
        if filt.startswith("$share/"):  # $share/<group>/<filter>
            parts = filt.split("/", 2)
            filt = parts[2] if len(parts) == 3 else ""
        return filt.startswith(topics.ROOT + "/")
    own = f"{topics.ROOT}/dev/{username}/"
    if action == Action.PUBLISH:
        return topic.startswith(own) and topic[len(own):] in DEVICE_WRITE
    # SUBSCRIBE and RECEIVE: exact topics only (no wildcards for devices)
    if topic in FLEET_READ:
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
        if session.client_id != user:
            return False  # another client's id would take over its session
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
