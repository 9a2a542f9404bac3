# The provisioning bundle: what the fleet hands a device at registration,
# signed with the fleet key as a control message of kind 5 (PROVISION,
# device scope; docs/protocol.md section 5, docs/provisioning.md).
#
#   body = {1: site_id, 2: broker url, 3: mqtt username, 4: mqtt password,
#           5: [fleet public keys (32 bytes)...], 6: broker CA (PEM text) or null,
#           7: [release public keys (32 bytes)...] (optional: firmware updates,
#              docs/protocol.md "Firmware updates"; absent keeps the device's;
#              a device that holds release keys refuses different ones)}
#
# A blank device trusts the fleet keys inside the bundle once the bundle
# verifies with one of them (the technician's cable is the trusted channel);
# a provisioned device accepts a new bundle only if a fleet key it already
# holds signed it, so a stranger with a USB cable cannot re-home a gate, and
# only a newer one than it applied (config.json "bundle_version"), so an old
# bundle (old credentials, old site) cannot be replayed at it either.
# Wi-Fi credentials are the technician's input and travel beside the bundle.
import errors
from fsutil import write_atomic
from verify import reasons


def _bad(detail):
    return errors.ControlError(reasons.CTRL_MALFORMED, detail)


def _hex(b):
    import binascii

    return binascii.hexlify(b).decode()


def check_body(body):
    if type(body) is not dict:
        raise _bad("body is not a map")
    site, url, user, pw, keys, ca = (body.get(1), body.get(2), body.get(3),
                                     body.get(4), body.get(5), body.get(6))
    if type(site) is not str or len(site) > 64:  # "" = not yet assigned
        raise _bad("site")
    if type(url) is not str or not (url.startswith("mqtt://") or url.startswith("mqtts://")):
        raise _bad("broker url")
    if type(user) is not str or type(pw) is not str or not user or len(pw) > 128:
        raise _bad("credentials")
    if type(keys) is not list or not 0 < len(keys) <= 4:
        raise _bad("fleet keys")
    for k in keys:
        if type(k) is not bytes or len(k) != 32:
            raise _bad("fleet key")
    if ca is not None and type(ca) is not str:
        raise _bad("ca")
    rel = body.get(7)
    if rel is not None:
        if type(rel) is not list or len(rel) > 4:
            raise _bad("release keys")
        for k in rel:
            if type(k) is not bytes or len(k) != 32:
                raise _bad("release key")


def open_bundle(data, device_id, trusted_keys, now=None, applied=None):
    """Verify a bundle for this device -> body. `trusted_keys`: the fleet keys
    the device holds (empty on a blank device); `applied`: the version of the
    bundle it applied, if any. Raises ControlError."""
    return _open(data, device_id, trusted_keys, now, applied)[1]


def _open(data, device_id, trusted_keys, now, applied):
    from control import envelope

    sign1, cbor = envelope._parse(bytes(data))
    kind, version, iat, until, scope, body = envelope.decode_payload(sign1.payload, cbor)
    if kind != envelope.KIND_PROVISION:
        raise _bad("not a provisioning bundle")
    if scope[0] != envelope.SCOPE_DEVICE or scope[1] != device_id:
        raise errors.ControlError(reasons.CTRL_SCOPE, "bundle for another device")
    check_body(body)
    envelope._verify(sign1, trusted_keys if trusted_keys else body[5])
    if applied is not None and version < applied:
        raise errors.ControlError(reasons.CTRL_ROLLBACK, "older than the applied bundle")
    if applied is not None and version == applied:
        raise errors.ControlError(reasons.CTRL_REPLAY, "bundle already applied")
    if now is not None and now > until:
        raise errors.ControlError(reasons.CTRL_EXPIRED, "bundle expired")
    return version, body


def apply(root, cfg, device_id, data, wifi, now=None):
    """Verify the bundle and write config.json atomically; returns the new
    configuration dict."""
    import binascii

    trusted = [binascii.unhexlify(k) for k in cfg.get("fleet_keys") or ()]
    applied = cfg.get("bundle_version") if trusted else None
    version, body = _open(data, device_id, trusted, now, applied if type(applied) is int else None)
    from app import config as app_config

    new = {}
    for k in cfg:
        new[k] = cfg[k]
    new["device_id"] = device_id
    new["site_id"] = body[1]
    broker = {"url": body[2], "user": body[3], "password": body[4]}
    if body.get(6):
        write_atomic(root + "/ca.pem", body[6].encode())
        broker["ca"] = root + "/ca.pem"
    new["broker"] = broker
    new["fleet_keys"] = [_hex(k) for k in body[5]]
    if body.get(7) is not None:
        keys = [_hex(k) for k in body[7]]
        held = cfg.get("release_keys")
        if held and sorted(held) != sorted(keys):
            # The release keys are the one thing the fleet key must not
            # decide (docs/protocol.md "Firmware updates"): once a gate holds
            # some, a fleet-signed bundle cannot swap them, or a stolen fleet
            # key plus one USB session would let the thief ship firmware.
            # A factory reset (`provision flash`) starts over.
            raise errors.ControlError(reasons.CTRL_SIGNATURE,
                                      "release keys differ: factory reset to change them")
        new["release_keys"] = keys
    new["bundle_version"] = version
    if type(wifi) is dict:
        ssid, pw = wifi.get(1), wifi.get(2)
        if type(ssid) is str and type(pw) is str and len(ssid) <= 32 and len(pw) <= 64:
            new["wifi"] = {"ssid": ssid, "password": pw}
    app_config.save(root, new)
    return new
