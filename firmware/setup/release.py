# Fleet-signed firmware releases: once a device is provisioned, SETUP
# installs files only when a release manifest, signed with a fleet key the
# device already trusts, names them (docs/provisioning.md, "Locked console").
#
# A release is a control message of kind 6 (FIRMWARE), fleet or device
# scope, checked by control/envelope.py like any other (signature, kind,
# scope, version):
#   version = the release number (anti-rollback)
#   body    = {1: SHA-256 of the release listing, 2: label (text) or absent}
# The listing is the exact bytes of the staged commit.json that COMMIT
# installs ({"files": [[path, SHA-256 hex]...], "remove": [...]}), so every
# file's hash is covered by the fleet's signature.
#
# The installed release's (version, digest) stay in NVS, beside the key
# seed (nvs.json can never be written by PUT): an older release is refused
# (CTRL_ROLLBACK), the same version again too (CTRL_REPLAY).
import errors
from verify import reasons

_NVS_KEY = "fw_release"
_LABEL_MAX = 32


class _Installed:
    """What control/envelope.verify_message() asks of its state."""

    def __init__(self, nvs, device_id):
        self.nvs = nvs
        self.device_id = device_id
        self.site_id = None

    def applied(self, kind):
        b = self.nvs.get_blob(_NVS_KEY)
        if b is None or len(b) != 24:
            return None
        return int.from_bytes(b[:8], "big"), bytes(b[8:])


def _check_body(body):
    if type(body) is not dict or type(body.get(1)) is not bytes or len(body[1]) != 32:
        raise errors.ControlError(reasons.CTRL_MALFORMED, "listing digest")
    label = body.get(2)
    if label is not None and (type(label) is not str or len(label) > _LABEL_MAX):
        raise errors.ControlError(reasons.CTRL_MALFORMED, "label")


def verify(data, trusted_keys, nvs, device_id):
    """A release for this device -> control Message (.version, .body[1]).
    Raises ControlError (CTRL_SIGNATURE, CTRL_ROLLBACK, CTRL_REPLAY, ...)."""
    from control import envelope

    if not trusted_keys:
        raise errors.ControlError(reasons.CTRL_SIGNATURE, "no fleet key yet")
    msg = envelope.verify_message(data, envelope.KIND_FIRMWARE, trusted_keys,
                                  _Installed(nvs, device_id), None, _check_body)
    if msg is None:  # the very bytes of the installed release
        raise errors.ControlError(reasons.CTRL_REPLAY, "release already installed")
    return msg


def installed(nvs, msg):
    """Remember `msg` as installed (after every file is in place)."""
    nvs.set_blob(_NVS_KEY, msg.version.to_bytes(8, "big") + msg.digest)
