# Every MQTT topic of docs/protocol.md section 2, built in this one place.
# The device id (client id = username) is in every device topic, so one
# broker ACL pattern covers the fleet; at most 5 levels.
DEV = "gg/v1/dev/"
FLEET = "gg/v1/fleet/"

# fleet-wide, retained, signed (device subscribes); literals, not FLEET +
# "...": frozen, a literal is in flash, a sum a string on the heap
TRUST = "gg/v1/fleet/trust"
REVOCATION = "gg/v1/fleet/revocation"
DCC = "gg/v1/fleet/dcc"  # EU DCC signer (DSC) trust list, control kind 7


def scans(device_id):
    """Scan report batches, device -> fleet, QoS 1."""
    return DEV + device_id + "/scans"


def state(device_id):
    """Device state, retained, QoS 1; also the Last Will topic."""
    return DEV + device_id + "/state"


def reply(device_id):
    """Command replies, device -> fleet, QoS 1."""
    return DEV + device_id + "/reply"


def fetch(device_id):
    """Blob chunk requests, device -> fleet, QoS 1."""
    return DEV + device_id + "/fetch"


def cmd(device_id):
    """Signed commands, fleet -> device."""
    return DEV + device_id + "/cmd"


def config(device_id):
    """Signed site configuration (retained), fleet -> device."""
    return DEV + device_id + "/config"


def blob(device_id):
    """Blob chunks answering fetch, fleet -> device."""
    return DEV + device_id + "/blob"


def ota(device_id):
    """Signed firmware update offers (control kind 8), fleet -> device."""
    return DEV + device_id + "/ota"


def subscriptions(device_id):
    """What the device subscribes to (QoS 1) right after CONNACK."""
    return (cmd(device_id), config(device_id), blob(device_id), ota(device_id), TRUST, REVOCATION,
            DCC)


def ack(device_id):
    """The fleet's end-to-end ack of committed scan records, fleet -> device,
    QoS 0, not retained (docs/protocol.md 4.4)."""
    return DEV + device_id + "/ack"
