# The DCC signers (DSCs) this gate trusts: a GGDT table on flash
# (greengate/dcc/table.py writes it; layout in docs/protocol.md, "DCC trust
# table"), searched by kid without loading it: a binary search over the
# sorted 16-byte index, one 16-byte reusable buffer, then one read of the
# signer's record. RAM: the open file, the buffer and a few ints (well under
# 2 KB for any number of keys); flash: 16 B index + 10 B + key per signer.
#
#   t = Table(path)      header and size checked (ControlError CTRL_MALFORMED)
#   verify/dsccheck.py check_table(t): the whole index and every record (on apply)
#   t.find(kid)          -> Signer, REMOVED (delta tombstone) or None
#   Trust(snapshot, delta).lookup(kid) -> Signer or None (delta first)
#
# A table that does not parse is refused whole before its message commits
# (control/service.py; the checks: verify/dsccheck.py, loaded only then and
# at a rebuild), so a scan never meets a half-checked table; a flash
# read that comes up short during a scan raises StoreError (INTERNAL, deny).
import micropython
from micropython import const

import errors
from verify import reasons

_HEADER = const(32)
_ENTRY = const(16)
_RECORD = const(10)
_KID = const(8)
MAX_KEYS = const(20000)
ES256 = const(-7)
PS256 = const(-37)
_ALGS = (0, ES256, PS256)  # by alg code; 0 = removed (delta only)
TYPE_BITS = {"v": 1, "t": 2, "r": 4}
REMOVED = "removed"


@micropython.viper
def _cmp8(a: ptr8, ao: int, b: ptr8, bo: int) -> int:
    # compare 8 bytes a[ao:] with b[bo:]: <0, 0, >0
    i = 0
    while i < 8:
        c = int(a[ao + i]) - int(b[bo + i])
        if c != 0:
            return c
        i += 1
    return 0


def _u32(b, o):
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]


def _bad(detail):
    return errors.ControlError(reasons.CTRL_MALFORMED, "dcc table: " + detail)


class Signer:
    __slots__ = ("kid", "alg", "key", "not_before", "not_after", "country", "types")

    def __init__(self, kid, alg, key, not_before, not_after, country, types):
        self.kid = kid
        self.alg = alg              # -7 ES256 or -37 PS256
        self.key = key              # EC: 64 B X||Y; RSA: modulus (e = 65537)
        self.not_before = not_before
        self.not_after = not_after  # 0: no end
        self.country = country
        self.types = types          # bit mask: 1 v, 2 t, 4 r

    def allows(self, kind):
        return bool(self.types & TYPE_BITS.get(kind, 0))


class Table:
    def __init__(self, path):
        try:
            self._f = open(path, "rb")
        except OSError:
            raise errors.StoreError(reasons.NOT_PROVISIONED, "no dcc table")
        try:
            self._header()
        except Exception:
            self._f.close()
            raise
        self._buf = bytearray(_ENTRY)

    def _header(self):
        f = self._f
        h = f.read(_HEADER)
        if len(h) != _HEADER or h[:4] != b"GGDT" or h[4] != 1 or h[5] > 1:
            raise _bad("not a GGDT table")
        self.delta = h[5] == 1
        self.count = _u32(h, 8)
        self.version = _u32(h, 12)
        self.base_version = _u32(h, 16)
        self.data_size = _u32(h, 20)
        if self.count > MAX_KEYS:
            raise _bad("too many keys")
        self._data = _HEADER + _ENTRY * self.count
        if self.data_size > 600 * MAX_KEYS or f.seek(0, 2) != self._data + self.data_size:
            raise _bad("size does not match its header")

    def _entry(self, i):
        b = self._buf
        self._f.seek(_HEADER + _ENTRY * i)
        if self._f.readinto(b) != _ENTRY:
            raise errors.StoreError(reasons.INTERNAL, "dcc table index cut short")
        return b

    def _index_of(self, kid):
        lo = 0
        hi = self.count
        while lo < hi:
            mid = (lo + hi) >> 1
            c = _cmp8(self._entry(mid), 0, kid, 0)
            if c == 0:
                return mid
            if c < 0:
                lo = mid + 1
            else:
                hi = mid
        return -1

    def find(self, kid):
        if type(kid) is not bytes or len(kid) != _KID or not self.count:
            return None
        i = self._index_of(kid)
        if i < 0:
            return None
        b = self._buf
        off = _u32(b, 8)
        n = (b[12] << 8) | b[13]
        alg = b[14]
        types = b[15]
        if alg == 0:
            return REMOVED
        self._f.seek(self._data + off)
        rec = self._f.read(n)
        if len(rec) != n:
            raise errors.StoreError(reasons.INTERNAL, "dcc table record cut short")
        return Signer(kid, _ALGS[alg], rec[_RECORD:], _u32(rec, 0), _u32(rec, 4),
                      str(rec[8:10], "ascii"), types)

    def close(self):
        self._f.close()


class Trust:
    """The device's DCC signers: a snapshot table and an optional delta
    (signers added or changed since it, tombstones for removed ones)."""

    def __init__(self, snapshot, delta=None):
        if delta is not None and (not delta.delta or delta.base_version != snapshot.version):
            raise _bad("delta is not for this snapshot")
        if snapshot.delta:
            raise _bad("snapshot is a delta")
        self.snapshot = snapshot
        self.delta = delta
        self.refs = None  # (snapshot sha, delta sha or None): app/provisioned.py reuse

    def lookup(self, kid):
        d = self.delta
        if d is not None:
            s = d.find(kid)
            if s is REMOVED:
                return None
            if s is not None:
                return s
        s = self.snapshot.find(kid)
        return None if s is REMOVED else s

    def key_count(self):
        """Signers trusted: the snapshot's, plus the delta's new ones, minus
        its removed ones (one lookup per delta entry: the delta is small)."""
        n = self.snapshot.count
        d = self.delta
        if d is None:
            return n
        kid = bytearray(_KID)
        for i in range(d.count):
            b = d._entry(i)
            removed = b[14] == 0
            kid[:] = b[0:_KID]
            known = self.snapshot.find(bytes(kid)) is not None
            if removed and known:
                n -= 1
            elif not removed and not known:
                n += 1
        return n

    def close(self):
        self.snapshot.close()
        if self.delta is not None:
            self.delta.close()


def open_files(snapshot_path, delta_path=None, check=False):
    """Trust on these files; check: every entry checked first (on apply)."""
    snap = Table(snapshot_path)
    delta = None
    try:
        if check:
            from verify import dsccheck

            dsccheck.check_table(snap)
        if delta_path:
            delta = Table(delta_path)
            if check:
                dsccheck.check_table(delta)
        return Trust(snap, delta)
    except Exception:
        snap.close()
        if delta is not None:
            delta.close()
        raise


# -- the signed DCC trust-list message (kind 7): verify/dsccheck.py, loaded
# only when a table is applied or the decider rebuilt (control/service.py
# and app/provisioned.py call these names)


def check_body(body):
    from verify import dsccheck

    return dsccheck.check_body(body)


def body_paths(root, body):
    from verify import dsccheck

    return dsccheck.body_paths(root, body)


def check_files(root, body):
    from verify import dsccheck

    return dsccheck.check_files(root, body)
