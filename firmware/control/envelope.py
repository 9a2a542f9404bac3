# Signed control plane, device side: open one fleet -> device message.
#
#   open_message(data, kind, fleet_keys, state, now, check=None) -> body or None
#   verify_message(...same...) -> Message or None   (checks only, no commit)
#
# A control message is a COSE_Sign1 (EdDSA, tag 18 optional) signed by a fleet
# key; its payload is a CBOR map (docs/protocol.md, "Signed control messages"):
#   1 kind (uint)  2 version (uint)  3 issued_at  4 valid_until (NumericDate)
#   5 scope [0 fleet | 1 site | 2 device, id text]  6 body
# Checks, first failure raises errors.ControlError with its CTRL_* reason:
#   bytes identical to the applied message of this kind -> None (no-op: a
#     retained message re-delivered on reconnect; nothing is verified again)
#   not a COSE_Sign1 / empty signature        -> CTRL_UNSIGNED
#   no fleet key verifies the signature       -> CTRL_SIGNATURE
#   payload fields missing / wrong type       -> CTRL_MALFORMED (also wrong kind)
#   scope is another device / site, or a scope this kind may not use -> CTRL_SCOPE
#   version < applied                         -> CTRL_ROLLBACK
#   version == applied (other bytes)          -> CTRL_REPLAY
#   now > valid_until                         -> CTRL_EXPIRED (skipped if now is None)
#   check(body) raises ControlError           -> that error (body refused)
# Only then is the message committed to `state` (one atomic file rename), so
# a refused message leaves every state file byte-identical.
from micropython import const

import errors
from verify import reasons

KIND_CONFIG = const(1)
KIND_TRUST = const(2)
KIND_REVOCATION = const(3)
KIND_COMMAND = const(4)
KIND_PROVISION = const(5)  # provisioning bundle, over USB only (setup/bundle.py)
KIND_FIRMWARE = const(6)   # firmware release manifest, over USB only (setup/release.py)
KIND_OTA = const(8)        # firmware update offer over MQTT (ota/)
KINDS = (KIND_CONFIG, KIND_TRUST, KIND_REVOCATION, KIND_COMMAND, KIND_PROVISION, KIND_FIRMWARE,
         KIND_OTA)
KIND_NAMES = {1: "config", 2: "trust", 3: "revocation", 4: "command", 5: "provision",
              6: "firmware", 8: "ota"}

SCOPE_FLEET = const(0)
SCOPE_SITE = const(1)
SCOPE_DEVICE = const(2)
# which scopes each kind may be addressed to (commands only ever to one device)
_ALLOWED_SCOPES = {
    KIND_CONFIG: (SCOPE_SITE, SCOPE_DEVICE),
    KIND_TRUST: (SCOPE_FLEET, SCOPE_SITE),
    KIND_REVOCATION: (SCOPE_FLEET, SCOPE_SITE),
    KIND_COMMAND: (SCOPE_DEVICE,),
    KIND_PROVISION: (SCOPE_DEVICE,),
    KIND_FIRMWARE: (SCOPE_FLEET, SCOPE_DEVICE),
    KIND_OTA: (SCOPE_FLEET, SCOPE_SITE, SCOPE_DEVICE),
}
_ALG_EDDSA = const(-8)
MAX_MESSAGE = const(4096)  # bigger things travel as blobs (fleet tools: <= 4,000)


class Message:
    def __init__(self, kind, version, issued_at, valid_until, scope, body, digest, raw):
        self.kind = kind
        self.version = version
        self.issued_at = issued_at
        self.valid_until = valid_until
        self.scope = scope
        self.body = body
        self.digest = digest   # SHA-256(raw)[:16]
        self.raw = raw


def _fail(reason, detail, version=0):
    e = errors.ControlError(reason, detail)
    e.version = version  # known once the signature verified (state key 12)
    return e


def digest(data):
    import hashlib

    return hashlib.sha256(data).digest()[:16]


def _uint(v):
    return type(v) is int and v >= 0


def _parse(data):
    from codec import cbor
    from verify import cose

    if len(data) > MAX_MESSAGE:
        raise _fail(reasons.CTRL_MALFORMED, "message too large")
    try:
        sign1 = cose.parse_sign1(data)
    except errors.GateError:
        raise _fail(reasons.CTRL_UNSIGNED, "not a COSE_Sign1")
    if not sign1.signature:
        raise _fail(reasons.CTRL_UNSIGNED, "no signature")
    return sign1, cbor


def _verify(sign1, fleet_keys, scratch=None):
    from crypto import ed25519
    from verify import cose

    # alg must be in the protected (signed) header for control messages
    if sign1.phdr.get(1) != _ALG_EDDSA or len(sign1.signature) != 64:
        raise _fail(reasons.CTRL_SIGNATURE, "not an EdDSA signature")
    tbs = cose.sig_structure(sign1)
    for key in fleet_keys:
        # raw 32-byte keys or ed25519.prepare() results are both accepted
        if type(key) in (bytes, bytearray):
            ok = ed25519.verify(key, sign1.signature, tbs, scratch)
        else:
            ok = ed25519.verify_prepared(key, sign1.signature, tbs)
        if ok:
            return
    raise _fail(reasons.CTRL_SIGNATURE, "no fleet key verifies it")


def decode_payload(payload, cbor):
    """Payload map -> Message fields (without digest/raw); CTRL_MALFORMED."""
    try:
        m = cbor.loads(payload)
    except errors.GateError:
        raise _fail(reasons.CTRL_MALFORMED, "payload is not CBOR")
    if type(m) is not dict:
        raise _fail(reasons.CTRL_MALFORMED, "payload is not a map")
    kind = m.get(1)
    version = m.get(2)
    iat = m.get(3)
    until = m.get(4)
    scope = m.get(5)
    if not (_uint(kind) and _uint(version) and _uint(iat) and _uint(until)):
        raise _fail(reasons.CTRL_MALFORMED, "kind/version/times must be uints")
    if kind not in KINDS:
        raise _fail(reasons.CTRL_MALFORMED, "unknown kind")
    if until < iat:
        raise _fail(reasons.CTRL_MALFORMED, "valid_until before issued_at")
    if (type(scope) is not list or len(scope) != 2 or scope[0] not in (0, 1, 2)
            or type(scope[1]) is not str or len(scope[1]) > 64):
        raise _fail(reasons.CTRL_MALFORMED, "bad scope")
    if 6 not in m:
        raise _fail(reasons.CTRL_MALFORMED, "no body")
    return kind, version, iat, until, scope, m[6]


def _check_scope(kind, scope, state):
    st, ident = scope
    if st not in _ALLOWED_SCOPES[kind]:
        raise _fail(reasons.CTRL_SCOPE, "scope not allowed for this kind")
    if st == SCOPE_DEVICE and ident != state.device_id:
        raise _fail(reasons.CTRL_SCOPE, "for another device")
    if st == SCOPE_SITE and (not state.site_id or ident != state.site_id):
        raise _fail(reasons.CTRL_SCOPE, "for another site")
    if st == SCOPE_FLEET and ident != "":
        raise _fail(reasons.CTRL_SCOPE, "fleet scope carries no id")


def verify_message(data, kind, fleet_keys, state, now, check=None, scratch=None):
    """Every check of open_message() without committing: a Message, or None
    for the applied message's exact bytes. Used when a message must wait for
    its blobs (revocation snapshot, allowlist) before it is committed.
    scratch: crypto.ed25519.verify's reusable table buffer."""
    data = bytes(data)
    dg = digest(data)
    applied = state.applied(kind)
    if applied is not None and applied[1] == dg:
        return None
    sign1, cbor = _parse(data)
    _verify(sign1, fleet_keys, scratch)
    k, version, iat, until, scope, body = decode_payload(sign1.payload, cbor)
    if k != kind:
        raise _fail(reasons.CTRL_MALFORMED, "wrong kind for this topic")
    _check_scope(kind, scope, state)
    if applied is not None:
        if version < applied[0]:
            raise _fail(reasons.CTRL_ROLLBACK, "older than applied", version)
        if version == applied[0]:
            raise _fail(reasons.CTRL_REPLAY, "version already applied", version)
    if now is not None and now > until:
        raise _fail(reasons.CTRL_EXPIRED, "past valid_until", version)
    if check is not None:
        try:
            check(body)
        except errors.ControlError:
            raise
        except errors.GateError as e:
            raise _fail(reasons.CTRL_MALFORMED, e.detail or "body refused")
        except Exception:  # noqa - a malformed body must never crash the client
            raise _fail(reasons.CTRL_MALFORMED, "body check failed")
    return Message(kind, version, iat, until, scope, body, dg, data)


def open_message(data, kind, fleet_keys, state, now, check=None):
    """Verify, check and commit one control message; body, or None if these
    exact bytes are already the applied message of this kind."""
    msg = verify_message(data, kind, fleet_keys, state, now, check)
    if msg is None:
        return None
    state.commit(msg)
    return msg.body
