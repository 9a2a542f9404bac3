"""MQTT topic names (one place; docs/protocol.md is the contract).

Device id in every device topic, so one ACL pattern (%u = device id as MQTT
username) covers the fleet; at most 7 levels.
"""

from __future__ import annotations

ROOT = "gg/v1"
SHARE_GROUP = "greengate"

# device -> fleet
def scans(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/scans"


def state(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/state"


def reply(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/reply"


# fleet -> device
def command(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/cmd"


def site_config(site_id: int) -> str:
    return f"{ROOT}/site/{site_id}/config"


TRUST = f"{ROOT}/fleet/trust"
REVOCATION_SNAPSHOT = f"{ROOT}/fleet/revocation/snapshot"
REVOCATION_DELTA = f"{ROOT}/fleet/revocation/delta"

# wildcard subscriptions of the bridge
SCANS_ALL = f"{ROOT}/dev/+/scans"
STATE_ALL = f"{ROOT}/dev/+/state"
REPLY_ALL = f"{ROOT}/dev/+/reply"


def shared(topic: str, group: str = SHARE_GROUP) -> str:
    return f"$share/{group}/{topic}"


def device_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and "/".join(parts[:2]) == ROOT and parts[2] == "dev" and parts[3]:
        return parts[3]
    return None
