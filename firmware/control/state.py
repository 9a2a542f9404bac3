# Applied control messages, persisted one file per kind so that applying a
# message is a single atomic rename (LittleFS renames replace atomically).
#
#   ControlState(root, device_id, site_id)
#   .applied(kind) -> (version, digest, issued_at, valid_until) or None
#   .commit(msg)   -> writes <root>/ctrl_<kind>.bin via a temp file + rename
#   .message(kind) -> the applied signed bytes (config / trust / revocation)
#   .body(kind)    -> the applied body, decoded again from those bytes
#   .stale(now, max_age) -> first kind (trust, revocation, config) that is
#       missing, past its valid_until, or older than max_age[kind] seconds
#
# File = CBOR [version, digest(16 B), issued_at, valid_until, signed bytes or
# null (commands keep no bytes)]. A file that does not parse counts as
# "nothing applied" for that kind and is reported by .errors.
import errors
from fsutil import write_atomic
from verify import reasons

_KINDS = (1, 2, 3, 4)
_STALE_ORDER = (2, 3, 1)  # trust, revocation, config
DEFAULT_MAX_AGE = 86400   # a list older than one day may not admit anyone


class ControlState:
    def __init__(self, root, device_id, site_id=None):
        self.root = root
        self.device_id = device_id
        self.site_id = site_id
        self.errors = []
        self._applied = {}
        for k in _KINDS:
            self._applied[k] = self._load(k)

    def _path(self, kind):
        return "%s/ctrl_%d.bin" % (self.root, kind)

    def _load(self, kind):
        from codec import cbor

        try:
            with open(self._path(kind), "rb") as f:
                data = f.read()
        except OSError:
            return None
        try:
            rec = cbor.loads(data)
            if (type(rec) is list and len(rec) == 5 and type(rec[0]) is int
                    and type(rec[1]) is bytes and type(rec[2]) is int
                    and type(rec[3]) is int):
                return rec
        except errors.GateError:
            pass
        self.errors.append(kind)
        return None

    def applied(self, kind):
        rec = self._applied.get(kind)
        if rec is None:
            return None
        return (rec[0], rec[1], rec[2], rec[3])

    def version(self, kind):
        rec = self._applied.get(kind)
        return None if rec is None else rec[0]

    def versions(self):
        out = {}
        for k in _KINDS:
            rec = self._applied.get(k)
            if rec is not None:
                out[k] = rec[0]
        return out

    def commit(self, msg):
        from codec import cbor

        keep = None if msg.kind == 4 else msg.raw
        rec = [msg.version, msg.digest, msg.issued_at, msg.valid_until, keep]
        write_atomic(self._path(msg.kind), cbor.dumps(rec))
        self._applied[msg.kind] = rec

    def message(self, kind):
        rec = self._applied.get(kind)
        return None if rec is None else rec[4]

    def body(self, kind):
        raw = self.message(kind)
        if raw is None:
            return None
        from codec import cbor
        from verify import cose
        from control import envelope

        # flash is trusted: the signature was checked when it was applied
        return envelope.decode_payload(cose.parse_sign1(raw).payload, cbor)[5]

    def stale(self, now, max_age=None):
        """None when trust, revocation and config are all fresh, else the
        first kind that is missing or too old (now None: cannot tell -> None,
        the verifier already refuses with CLOCK)."""
        for k in _STALE_ORDER:
            rec = self._applied.get(k)
            if rec is None:
                return k
            if now is None:
                continue
            limit = DEFAULT_MAX_AGE
            if max_age and k in max_age:
                limit = max_age[k]
            if now > rec[3] or now - rec[2] > limit:
                return k
        return None

