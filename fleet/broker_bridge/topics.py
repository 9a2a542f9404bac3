"""MQTT topic names, as docs/protocol.md section 2 defines them (the
firmware's net/topics.py builds the same names on the device).

Device id in every device topic, so one ACL pattern (%u = device id as MQTT
username) covers the fleet.
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


def fetch(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/fetch"


# fleet -> device
def command(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/cmd"


def config(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/config"


def blob(device_id: str) -> str:
    return f"{ROOT}/dev/{device_id}/blob"


def ota(device_id: str) -> str:
    """Signed firmware update offers (control kind 8), not retained
    (fleet/services/ota.py), docs/protocol.md "Firmware updates"."""
    return f"{ROOT}/dev/{device_id}/ota"


def ack(device_id: str) -> str:
    """End-to-end scan acknowledgement, QoS 0 (protocol 4.4)."""
    return f"{ROOT}/dev/{device_id}/ack"


def retained(device_id: str) -> tuple[str, ...]:
    """A device's topics that hold a retained message (protocol section 2):
    its signed configuration, and its state (Last Will included)."""
    return (config(device_id), state(device_id))


TRUST = f"{ROOT}/fleet/trust"
REVOCATION = f"{ROOT}/fleet/revocation"
DCC = f"{ROOT}/fleet/dcc"  # signed DCC signer (DSC) trust list, kind 7 (issue 13)

# wildcard subscriptions of the bridge
SCANS_ALL = f"{ROOT}/dev/+/scans"
STATE_ALL = f"{ROOT}/dev/+/state"
REPLY_ALL = f"{ROOT}/dev/+/reply"
FETCH_ALL = f"{ROOT}/dev/+/fetch"


def shared(topic: str, group: str = SHARE_GROUP) -> str:
    return f"$share/{group}/{topic}"


def device_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and "/".join(parts[:2]) == ROOT and parts[2] == "dev" and parts[3]:
        return parts[3]
    return None
