# A release manifest, device side (docs/protocol.md "Firmware updates";
# the host builds it with greengate/ota/release.py):
#   COSE_Sign1, protected {1: EdDSA, 4: kid = SHA-256(release key)[:8]},
#   payload {1 release, 2 version text, 3 min_previous, 4 target,
#            5 created_at, 6 [[path, size, sha256]], 7 {1: sha256, 2: size}}
# Signed by a RELEASE key (config.json "release_keys", from the provisioning
# bundle), never by the fleet's control key: the fleet only relays releases.
#
#   check(data, release_keys, scratch=None) -> Manifest   UpdateError(OTA_*)
#   parse(data) -> Manifest   (bytes read back from flash: checked before)
from micropython import const

import errors
from verify import reasons

_ALG_EDDSA = const(-8)
MAX_MANIFEST = const(16384)
_MAX_PATH = const(64)
_MAX_INT = const(0x3FFFFFFF)  # a small int on the ESP32


class Manifest:
    def __init__(self, m):
        self.release = m[1]
        self.version = m[2]
        self.min_previous = m[3]
        self.target = m[4]
        self.created_at = m[5]
        self.files = m[6]
        self.sha = m[7][1]
        self.size = m[7][2]


def _bad(detail, reason=reasons.OTA_MALFORMED):
    return errors.UpdateError(reason, detail)


def _uint(v):
    return type(v) is int and 0 <= v <= _MAX_INT


def _fields(payload):
    from codec import cbor

    try:
        m = cbor.loads(payload)
    except errors.GateError:
        raise _bad("manifest payload is not CBOR")
    if type(m) is not dict:
        raise _bad("manifest payload is not a map")
    ts = m.get(5)  # unix seconds: past the ESP32's small ints, any int is fine
    if not (_uint(m.get(1)) and m[1] > 0 and _uint(m.get(3)) and type(ts) is int and ts >= 0):
        raise _bad("release / min_previous / created_at")
    if type(m.get(2)) is not str or not 0 < len(m[2]) <= 32:
        raise _bad("version text")
    if m.get(4) not in (0, 1):
        raise _bad("target")
    files, pl = m.get(6), m.get(7)
    if type(files) is not list or not files:
        raise _bad("files")
    total = 0
    for f in files:
        if (type(f) is not list or len(f) != 3 or type(f[0]) is not str
                or not 0 < len(f[0]) <= _MAX_PATH or not _uint(f[1])
                or type(f[2]) is not bytes or len(f[2]) != 32 or not _safe(f[0])):
            raise _bad("file entry")
        total += f[1]
    if (type(pl) is not dict or type(pl.get(1)) is not bytes or len(pl[1]) != 32
            or not _uint(pl.get(2)) or pl[2] != total):
        raise _bad("payload must be {1: sha256, 2: size = sum of the files}")
    return Manifest(m)


def _safe(path):
    # a relative path inside the slot: no "..", no absolute path, no empty part
    if path[0] == "/" or "\\" in path:
        return False
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return False
    return True


def check(data, release_keys, scratch=None):
    from crypto import ed25519
    from verify import cose

    if not release_keys:
        raise _bad("no release key", reasons.OTA_NO_KEY)
    if len(data) > MAX_MANIFEST:
        raise _bad("manifest too large")
    try:
        sign1 = cose.parse_sign1(data, MAX_MANIFEST)
    except errors.GateError:
        raise _bad("not a COSE_Sign1", reasons.OTA_SIGNATURE)
    if sign1.phdr.get(1) != _ALG_EDDSA or len(sign1.signature) != 64:
        raise _bad("not an EdDSA signature", reasons.OTA_SIGNATURE)
    tbs = cose.sig_structure(sign1)
    for key in release_keys:
        if ed25519.verify(key, sign1.signature, tbs, scratch):
            break
    else:
        raise _bad("no release key verifies it", reasons.OTA_SIGNATURE)
    tbs = None
    return _fields(sign1.payload)


def parse(data):
    from verify import cose

    return _fields(cose.parse_sign1(data, MAX_MANIFEST).payload)


def admit(man, installed, failed=0):
    """Anti-rollback: UpdateError unless `man` may replace release
    `installed` (failed: a release that already failed its probation)."""
    if man.release < installed:
        raise _bad("older than the installed release", reasons.OTA_DOWNGRADE)
    if man.release == installed:
        raise _bad("release already installed", reasons.OTA_REPLAY)
    if installed < man.min_previous:
        raise _bad("installed release below min_previous", reasons.OTA_TOO_OLD)
    if man.release == failed:
        raise _bad("this release failed its probation here", reasons.OTA_PROBATION_FAILED)
