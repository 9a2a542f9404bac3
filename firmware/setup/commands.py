# The provisioning commands a device answers in SETUP (docs/provisioning.md).
#
# Requests and answers are CBOR maps with small int keys. The private key
# never leaves the device: KEY answers the public key, SIGN proves
# possession. Files arrive in a staging folder, are checked against their
# SHA-256 and only then renamed into place (COMMIT), so a cut cable leaves
# the old firmware running. config.json is written only from a bundle the
# fleet signed: on a provisioned device, with a fleet key it already trusts.
#
# Locked console: once provisioned (the device holds fleet keys), PUT and
# COMMIT work only inside a fleet-signed release (RELEASE, setup/release.py)
# whose listing names every file's SHA-256, and SIGN signs only the
# domain-separated registration statement (sign_message()) for a fleet the
# device trusts; a blank device signs for the fleet the tool names (the
# statement carries that fleet's key, so the signature is no use elsewhere).
import os

from micropython import const

import errors
from fsutil import exists as _exists, makedirs as _makedirs
from verify import reasons

HELLO = const(0x01)
KEY = const(0x02)
SIGN = const(0x03)
PUT = const(0x10)
HASH = const(0x11)
COMMIT = const(0x12)
RELEASE = const(0x13)
CONFIG = const(0x20)
REBOOT = const(0x30)
ERROR = const(0x7F)       # answer type for a refused request
RESPONSE = const(0x80)    # answer type = request type | RESPONSE

PROTOCOL_VERSION = const(2)  # 2: locked console, SIGN v2 statement
STAGE = ".stage"
MANIFEST = "manifest.json"
SIGN_CONTEXT = b"greengate-device-sig-v2\x00"  # fleet/services/provision.py
PURPOSE_REGISTER = const(1)  # the only thing the device key ever signs for
CHALLENGE_LEN = const(40)    # the fleet's challenge: issued_at | random | MAC
COMMIT_LIST = "commit.json"  # staged manifest for a COMMIT too big for one frame
# files the tool may never overwrite with PUT
_PROTECTED = ("identity.key", "config.json", "nvs.json", MANIFEST)
_SUFFIXES = (".py", ".mpy", ".bin", ".json")


class SetupError(errors.GateError):
    """A refused provisioning request; .code is the text code sent back."""

    reason = reasons.CTRL_MALFORMED

    def __init__(self, code, detail=""):
        self.code = code
        super().__init__(None, detail)


def check_path(path):
    """A relative firmware path: a/b/c.py, safe characters, no '..'."""
    if type(path) is not str or not 0 < len(path) <= 64:
        raise SetupError("path", "bad path")
    parts = path.split("/")
    if len(parts) > 4:
        raise SetupError("path", "too deep")
    for p in parts:
        if not p or p in (".", "..") or p[0] == ".":
            raise SetupError("path", "bad component")
        for c in p:
            if not (c.isalpha() or c.isdigit() or c in "_-."):
                raise SetupError("path", "bad character")
    if path in _PROTECTED:
        raise SetupError("path", "protected")
    for s in _SUFFIXES:
        if path.endswith(s):
            return path
    raise SetupError("path", "file type")


def file_sha256(path, buf):
    import hashlib

    h = hashlib.sha256()
    size = 0
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
            size += n
    return h.digest(), size


def sign_message(purpose, fleet_key, device_id, challenge):
    """The statement SIGN signs: context | purpose | fleet key | device id |
    challenge, every part of fixed length, so no other protocol's bytes
    (nor a bare challenge) can ever be made to look like one."""
    return SIGN_CONTEXT + bytes((purpose,)) + fleet_key + device_id.encode() + challenge


def _get(req, key, kind, required=True):
    v = req.get(key) if type(req) is dict else None
    if v is None and not required:
        return None
    if type(v) is not kind:
        raise SetupError("field", "field %d" % key)
    return v


class Commands:
    """Executes requests against the device's flash. `identity` holds the
    device key pair; `config` reads/writes config.json; `on_reboot` is called
    after REBOOT has been answered. `trust` -> the fleet keys (bytes) the
    device holds: none = blank (console open), some = provisioned (locked)."""

    def __init__(self, root, identity, info, config_writer, on_reboot=None,
                 device_id="", trust=None):
        self.root = root
        self.identity = identity
        self.info = info            # callable -> dict for HELLO
        self.config_writer = config_writer
        self.on_reboot = on_reboot
        self.device_id = device_id
        self.trust = trust or (lambda: [])
        self._keys = None           # trust(), read once (config.json) until CONFIG
        self.release = None         # the verified release of this session
        self._installed = None      # its listing's SHA-256, once installed
        self.reboot_pending = False
        self.buf = bytearray(1024)  # one reusable buffer for hashing

    def _trusted(self):
        if self._keys is None:
            self._keys = self.trust()
        return self._keys

    def _abs(self, path, staged=False):
        return "%s/%s%s" % (self.root, STAGE + "/" if staged else "", path)

    def handle(self, ftype, req):
        """-> (answer type, answer map). Never raises."""
        try:
            return ftype | RESPONSE, self._dispatch(ftype, req)
        except SetupError as e:
            return ERROR, {1: e.code, 2: e.detail}
        except errors.GateError as e:
            return ERROR, {1: reasons.name(e.reason), 2: e.detail}
        except OSError as e:
            return ERROR, {1: "flash", 2: "OSError %s" % (e.args[0] if e.args else "")}
        except Exception as e:  # noqa: answer, never die on a bad request
            return ERROR, {1: "internal", 2: repr(e)[:60]}

    def _dispatch(self, ftype, req):
        if ftype == HELLO:
            out = self.info()
            out[1] = PROTOCOL_VERSION
            out[6] = self.identity.public_key()
            return out
        if ftype == KEY:
            rekey = _get(req, 1, bool, required=False) or False
            if rekey and self._trusted():
                # the fleet knows this key; a new one could never register again
                raise SetupError("locked", "provisioned: no new key pair")
            created = self.identity.ensure(rekey)
            return {1: self.identity.public_key(), 2: created}
        if ftype == SIGN:
            return self._sign(req)
        if ftype == PUT:
            if self.release is None and self._trusted():
                raise SetupError("locked", "provisioned: send a fleet-signed release first")
            return self._put(req)
        if ftype == HASH:
            path = check_path(_get(req, 1, str))
            staged = _get(req, 2, bool, required=False) or False
            p = self._abs(path, staged)
            if not _exists(p):
                return {1: None, 2: 0}
            digest, size = file_sha256(p, self.buf)
            return {1: digest, 2: size}
        if ftype == COMMIT:
            return self._commit(req)
        if ftype == RELEASE:
            from setup import release

            self.release = None
            self.release = release.verify(_get(req, 1, bytes), self._trusted(),
                                          self.identity.nvs, self.device_id)
            return {1: self.release.version}
        if ftype == CONFIG:
            bundle = _get(req, 1, bytes)
            extra = _get(req, 2, dict, required=False) or {}
            self._keys = None  # a blank device is provisioned (locked) from now on
            self.config_writer(bundle, extra)
            return {}
        if ftype == REBOOT:
            self.reboot_pending = True
            return {}
        raise SetupError("unknown", "command %d" % ftype)

    def _sign(self, req):
        challenge = _get(req, 1, bytes)
        purpose = _get(req, 2, int)
        fleet_key = _get(req, 3, bytes)
        if purpose != PURPOSE_REGISTER:
            raise SetupError("purpose", "the device key signs registrations only")
        if len(challenge) != CHALLENGE_LEN:
            raise SetupError("field", "challenge length")
        if len(fleet_key) != 32:
            raise SetupError("field", "fleet key")
        trusted = self._trusted()
        if trusted and fleet_key not in trusted:
            raise SetupError("foreign_fleet", "provisioned for another fleet")
        if self.identity.public_key() is None:
            raise SetupError("no_key", "run KEY first")
        return {1: self.identity.sign(sign_message(purpose, fleet_key, self.device_id, challenge))}

    def _put(self, req):
        path = check_path(_get(req, 1, str))
        offset = _get(req, 2, int)
        data = _get(req, 3, bytes)
        total = _get(req, 4, int)
        if not 0 <= offset <= total or offset + len(data) > total or total > 512 * 1024:
            raise SetupError("range", "offset/size")
        p = self._abs(path, True)
        if _exists(p) and os.stat(p)[6] == offset + len(data) and offset + len(data) > 0:
            # the answer to this chunk was lost and the tool sent it again;
            # COMMIT's hash check catches any real difference
            return {1: offset + len(data)}
        if offset == 0:
            d = p.rsplit("/", 1)[0]
            _makedirs(d)
            mode = "wb"
        else:
            if not _exists(p) or os.stat(p)[6] != offset:
                # chunks arrive in order; a gap means a lost chunk: restart
                raise SetupError("offset", "expected %d" % (os.stat(p)[6] if _exists(p) else 0))
            mode = "ab"
        with open(p, mode) as f:
            f.write(data)
        return {1: offset + len(data)}

    def _commit(self, req):
        listing = _get(req, 3, bytes, required=False)
        signed = self.release
        if self._trusted():
            # locked: only the listing whose SHA-256 the release signed
            if signed is None:
                if listing is not None and listing == self._installed:
                    return {1: 0}  # a repeated COMMIT (its answer was lost): done already
                raise SetupError("locked", "provisioned: send a fleet-signed release first")
            if listing != signed.body[1]:
                raise SetupError("release", "listing is not the signed release's")
        if listing is not None:
            items, removes = self._staged_listing(listing)
        else:
            items = _get(req, 1, list)
            removes = _get(req, 2, list, required=False) or []
        checked = []
        for item in items:
            if type(item) is not list or len(item) != 2 or type(item[1]) is not bytes:
                raise SetupError("field", "manifest entry")
            path = check_path(item[0])
            staged = self._abs(path, True)
            if not _exists(staged):
                # a repeated COMMIT (its answer was lost): already in place?
                final = self._abs(path)
                if _exists(final) and file_sha256(final, self.buf)[0] == item[1]:
                    continue
                raise SetupError("missing", path)
            digest, _ = file_sha256(staged, self.buf)
            if digest != item[1]:
                os.remove(staged)
                raise SetupError("hash", path)
            checked.append(path)
        for path in removes:
            check_path(path)
        # all staged files verified: move them into place, one rename each
        for path in checked:
            dst = self._abs(path)
            _makedirs(dst.rsplit("/", 1)[0])
            os.rename(self._abs(path, True), dst)
        for path in removes:
            if _exists(self._abs(path)):
                os.remove(self._abs(path))
        if listing is not None:
            os.remove(self._abs(COMMIT_LIST, True))
        if signed is not None:
            from setup import release

            release.installed(self.identity.nvs, signed)
            self.release = None
            self._installed = listing
        return {1: len(checked)}

    def _staged_listing(self, digest):
        """A whole firmware's manifest does not fit one frame: the tool PUTs it
        as the staged file commit.json ({"files": [[path, sha256 hex]...],
        "remove": [...]}) and COMMIT names its SHA-256."""
        import binascii
        import json

        path = self._abs(COMMIT_LIST, True)
        if not _exists(path) or file_sha256(path, self.buf)[0] != digest:
            raise SetupError("hash", COMMIT_LIST)
        with open(path) as f:
            doc = json.load(f)
        if type(doc) is not dict or type(doc.get("files")) is not list:
            raise SetupError("field", COMMIT_LIST)
        items = []
        for e in doc["files"]:
            if type(e) is not list or len(e) != 2 or type(e[1]) is not str:
                raise SetupError("field", "manifest entry")
            try:
                items.append([e[0], binascii.unhexlify(e[1])])
            except ValueError:
                raise SetupError("field", "manifest hash")
        removes = doc.get("remove") or []
        if type(removes) is not list:
            raise SetupError("field", "remove")
        return items, removes
