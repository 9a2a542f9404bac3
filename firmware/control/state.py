# Applied control messages, persisted one file per kind so that applying a
# message is a single atomic rename (LittleFS renames replace atomically).
#
#   ControlState(root, device_id, site_id)
#   .applied(kind) -> (version, digest, issued_at, valid_until) or None
#   .versions()    -> {kind: version}
#   .commit(msg)   -> writes <root>/ctrl_<kind>.bin via a temp file + rename
#   .message(kind) -> the applied signed bytes (config / trust / revocation)
#   .body(kind)    -> the applied body, decoded again from those bytes
#   .stale(now, max_age) -> first kind (trust, revocation, config) that is
#       missing, past its valid_until, or older than max_age[kind] seconds
#
# File = CBOR [version, digest(16 B), issued_at, valid_until, signed bytes or
# null (commands keep no bytes)].
#
# Memory: only (version, digest, issued_at, valid_until) per kind stays in
# RAM (what every scan, state report and incoming message asks for). The
# signed bytes (up to 4 KiB each) are read back from flash by message() and
# body(), which only decider rebuilds and blob clean-up call.
#
# A file that is missing, does not parse, or whose signed bytes do not match
# its digest counts as "nothing applied" for that kind: at start, and also
# when message() / body() find it so after it was applied (then they return
# None, and applied() / versions() / stale() no longer show the kind, so the
# decider refuses every pass and the retained message can apply again). The
# kind is listed in .errors (until applied again) and .last_error says why.
from micropython import const

from fsutil import write_atomic

_KINDS = (1, 2, 3, 4, 7)  # 7: DCC trust table (not in stale(): GG1 passes never need it)
_STALE_ORDER = (2, 3, 1)  # trust, revocation, config
DEFAULT_MAX_AGE = 86400   # a list older than one day may not admit anyone
_MAX_FILE = const(4096 + 64)  # a record of the largest control message


def _arg(data, i, major):
    """The CBOR head of major type `major` at data[i]: (argument, next i)."""
    b = data[i]
    if b >> 5 != major:
        raise ValueError
    ai = b & 31
    if ai < 24:
        return ai, i + 1
    if ai > 27:
        raise ValueError
    end = i + 1 + (1 << (ai - 24))
    v = 0
    for k in range(i + 1, end):
        v = (v << 8) | data[k]
    return v, end


def _head(data, size):
    """(version, digest, issued_at, valid_until), offset of the signed bytes
    (-1: null) of a state file of `size` bytes that starts with `data`;
    ValueError / IndexError if it is not one."""
    if data[0] != 0x85:  # array of 5
        raise ValueError
    version, i = _arg(data, 1, 0)
    n, i = _arg(data, i, 2)
    if n != 16:
        raise ValueError
    dg = data[i:i + 16]
    if len(dg) != 16:
        raise ValueError
    iat, i = _arg(data, i + 16, 0)
    until, i = _arg(data, i, 0)
    if data[i] == 0xF6 and i + 1 == size:  # null
        return (version, dg, iat, until), -1
    n, i = _arg(data, i, 2)
    if i + n != size:
        raise ValueError
    return (version, dg, iat, until), i


class ControlState:
    def __init__(self, root, device_id, site_id=None):
        self.root = root
        self.device_id = device_id
        self.site_id = site_id
        self.errors = []
        self.last_error = None
        self._applied = {}
        for k in _KINDS:
            got = self._read(k)
            if got is not None:
                self._applied[k] = got[0]

    def _path(self, kind):
        return "%s/ctrl_%d.bin" % (self.root, kind)

    def _lost(self, kind, why):
        self._applied.pop(kind, None)
        if kind not in self.errors:
            self.errors.append(kind)
        self.last_error = "ctrl_%d.bin %s" % (kind, why)

    def _read(self, kind, want_raw=False):
        """(head, signed bytes or None) from flash, checked against the
        digest (without want_raw the bytes are only hashed, in small reads);
        None if missing (nothing applied) or unusable (also _lost)."""
        import os

        path = self._path(kind)
        try:
            size = os.stat(path)[6]
        except OSError:
            return None
        if not 0 < size <= _MAX_FILE:
            self._lost(kind, "has a bad size")
            return None
        try:
            with open(path, "rb") as f:
                return self._parse(kind, f, size, want_raw)
        except OSError:
            self._lost(kind, "cannot be read")
            return None

    def _parse(self, kind, f, size, want_raw):
        try:
            head, off = _head(f.read(64), size)
        except (ValueError, IndexError):
            self._lost(kind, "is not a state record")
            return None
        if off < 0:
            if kind == 4:  # only commands keep no bytes
                return head, None
            self._lost(kind, "has no signed message")
            return None
        import hashlib

        f.seek(off)
        n = size - off
        raw = None
        h = hashlib.sha256()
        if want_raw:
            raw = f.read(n)  # bytes, as the decoders want them: no copy
            if len(raw) == n:
                h.update(raw)
                n = 0
        else:
            buf = bytearray(128)
            mv = memoryview(buf)
            while n:
                k = f.readinto(mv[0:min(n, 128)])
                if not k:
                    break
                h.update(mv[0:k])
                n -= k
        if n:
            self._lost(kind, "is cut short")
            return None
        if h.digest()[:16] != head[1]:
            self._lost(kind, "does not match its digest")
            return None
        return head, raw

    def _current(self, kind):
        """(head, signed bytes) of the applied message from its file, or None
        (missing or changed: lost)."""
        rec = self._applied.get(kind)
        if rec is None:
            return None
        got = self._read(kind, True)
        if got is None:
            if kind in self._applied:
                self._lost(kind, "is missing")
            return None
        if got[0] != rec:
            self._lost(kind, "is not the applied message")
            return None
        return got

    def applied(self, kind):
        return self._applied.get(kind)

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

        rec = (msg.version, msg.digest, msg.issued_at, msg.valid_until)
        # the record is built around the signed bytes (one copy of them, not
        # the encoder's growing buffer plus its result)
        data = bytearray(cbor.dumps(rec))
        data[0] = 0x85  # array of 4 -> array of 5
        if msg.kind == 4:
            data += b"\xf6"  # commands keep no bytes: null
        else:
            raw = msg.raw
            head = bytearray(cbor.dumps(len(raw)))
            head[0] |= 0x40  # uint head -> byte string head of that length
            data += head
            data += raw
        write_atomic(self._path(msg.kind), data)
        self._applied[msg.kind] = rec
        if msg.kind in self.errors:
            self.errors.remove(msg.kind)

    def message(self, kind):
        got = self._current(kind)
        return None if got is None else got[1]

    def body(self, kind):
        raw = self.message(kind)
        if raw is None:
            return None
        from codec import cbor
        from verify import cose

        # flash is trusted once its digest matches: the signature and the
        # payload's fields were checked when the message was applied
        # (control/envelope.py, not needed here: it stays unloaded)
        return cbor.loads(cose.parse_sign1(raw).payload)[6]

    def stale(self, now, max_age=None, kinds=_STALE_ORDER):
        """None when trust, revocation and config (or `kinds`) are all fresh,
        else the first kind that is missing or too old (now None: cannot
        tell -> None, the verifier already refuses with CLOCK)."""
        for k in kinds:
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
