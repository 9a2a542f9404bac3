# Revocation store on flash: a Golomb-coded set of pass-hash fingerprints in
# fixed-size blocks (format in greengate/control/revocation.py and
# docs/protocol.md), plus a small cumulative delta kept in RAM.
#
# The per-block index (one u32 key per block, 10.6 KB for 1,000,000 entries
# at 1 KiB blocks) stays in the file. RAM holds every stride-th key (the
# first key of each index slice; stride ~ sqrt(blocks): 42 keys, 168 bytes
# for 2,655 blocks). A lookup: viper binary search of the sparse keys, one
# small read of that index slice, viper binary search in it, one block read,
# a viper Rice decode. The slice and block buffers (~1.3 KB) are allocated
# per lookup, not held between scans (issue 11: the steady heap).
# The file stays open: a LittleFS handle costs ~240 bytes on the ESP32
# (128-byte cache with the default 32-byte read/prog sizes), reopening it
# per scan would walk the directory on flash every time.
# Fail closed: a damaged file is refused when opened (header, size, index
# order: no decider, every pass refused) or raises StoreError at the lookup
# that meets the damage (the decider answers INTERNAL): never a silent
# "not revoked".
import sys

import micropython
from micropython import const
import errors
from verify import reasons

_HEADER = const(32)
_HASH = const(16)
_SLACK = const(4)  # the bit reader peeks up to 3 bytes past a code
_STRIDE_MIN = const(16)


@micropython.viper
def _bisect_keys(keys: ptr32, n: int, key: int) -> int:
    # last block whose index key <= key, or -1 (keys are < 2**30)
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if int(keys[mid]) <= key:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


@micropython.viper
def _check_keys(keys: ptr32, n: int, prev: int) -> int:
    # keys[0..n) must be non-decreasing, >= prev and < 2**30: the last key,
    # or -1. (A key >= 2**31 reads negative on a 32-bit port: caught too.)
    i = 0
    while i < n:
        k = int(keys[i])
        if k < prev or (k >> 30) != 0:
            return -1
        prev = k
        i += 1
    return prev


@micropython.viper
def _scan_block(buf: ptr8, start: int, nbits: int, count: int, k: int, target: int) -> int:
    # Rice-decode gap offsets from the block's first value; 1 found, 0 absent,
    # -1 corrupt. Offsets stay < 2**30 so 32-bit viper ints never overflow.
    pos = start << 3
    end = pos + nbits
    klo = k if k < 16 else 16
    khi = k - klo
    mlo = (1 << klo) - 1
    mhi = (1 << khi) - 1
    val = 0
    i = 1
    while i < count:
        q = 0
        while True:
            if pos >= end:
                return -1
            if ((buf[pos >> 3] >> (7 - (pos & 7))) & 1) == 0:
                break
            q += 1
            pos += 1
        pos += 1
        if pos + k > end or q > 30:
            return -1
        r = 0
        if khi:
            p = pos >> 3
            w = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
            r = (w >> (24 - khi - (pos & 7))) & mhi
            pos += khi
        if klo:
            p = pos >> 3
            w = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
            r = (r << klo) | ((w >> (24 - klo - (pos & 7))) & mlo)
            pos += klo
        val += (q << k) + r
        if val == target:
            return 1
        if val > target:
            return 0
        i += 1
    return 0


@micropython.viper
def _bfind(table: ptr8, n: int, key: ptr8) -> int:
    # binary search of a 16-byte key in n sorted 16-byte records: 1 or 0
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        base = mid << 4
        c = 0
        j = 0
        while j < 16:
            c = int(table[base + j]) - int(key[j])
            if c != 0:
                break
            j += 1
        if c == 0:
            return 1
        if c < 0:
            lo = mid + 1
        else:
            hi = mid
    return 0


@micropython.viper
def _swap32(buf: ptr8, n: int):
    # big-endian u32 -> little-endian (ESP32 and x86 are both little-endian)
    i = 0
    end = n << 2
    while i < end:
        a = buf[i]
        b = buf[i + 1]
        buf[i] = buf[i + 3]
        buf[i + 1] = buf[i + 2]
        buf[i + 2] = b
        buf[i + 3] = a
        i += 4


def _u32(b, o):
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]


def _top_bits(h, nbits):
    # the top nbits (<= 48) of a hash as an int; bigint on ESP32 above 30 bits
    v = 0
    nbytes = (nbits + 7) >> 3
    for i in range(nbytes):
        v = (v << 8) | h[i]
    return v >> (nbytes * 8 - nbits)


class Snapshot:
    """Read-only GGRV file. `contains(pass_hash)` never loads the whole file,
    nor its whole index. stride (tests): index keys per slice, 0 = automatic."""

    def __init__(self, path, stride=0):
        self.path = path
        try:
            self._f = open(path, "rb")
        except OSError:
            raise errors.StoreError(reasons.NOT_PROVISIONED, "no revocation snapshot")
        try:
            self._load_header()
            self._load_index(stride)
        except Exception:
            self._f.close()
            raise

    def _load_header(self):
        f = self._f
        h = f.read(_HEADER)
        if len(h) != _HEADER or h[:4] != b"GGRV" or h[4] != 1:
            raise errors.StoreError(reasons.INTERNAL, "not a GGRV snapshot")
        self.bits = h[5]
        self.k = h[6]
        self.shift = h[7]
        self.block_size = _u32(h, 8)
        self.entries = _u32(h, 12)
        self.blocks = _u32(h, 16)
        self.list_version = _u32(h, 20)
        if not (16 <= self.bits <= 48 and self.k <= 29 and 64 <= self.block_size <= 65536
                and self.shift == max(0, self.bits - 30) and self.blocks < 0x10000000):
            raise errors.StoreError(reasons.INTERNAL, "bad GGRV parameters")
        self._vbytes = (self.bits + 7) >> 3
        self._data = _HEADER + 4 * self.blocks
        # the whole file must be there: a short one would fail (or worse)
        # only when a scan reaches the missing part
        if f.seek(0, 2) != self._data + self.blocks * self.block_size:
            raise errors.StoreError(reasons.INTERNAL, "GGRV size does not match its header")
        self._pay_bits = (self.block_size - 2 - self._vbytes) * 8

    def _load_index(self, stride):
        # One pass over the on-flash index, slice by slice: checks that the
        # keys are ordered (a damaged index is refused here, not answered
        # from) and keeps the first key of each slice.
        nb = self.blocks
        if stride <= 0:
            stride = _STRIDE_MIN
            while stride * stride < nb:
                stride <<= 1
        self._stride = stride
        self._ntop = (nb + stride - 1) // stride
        self._keys = bytearray(4 * self._ntop)
        sl = bytearray(4 * stride)
        prev = 0
        for t in range(self._ntop):
            self._read_slice(sl, t)
            prev = _check_keys(sl, self._slice_len(t), prev)
            if prev < 0:
                raise errors.StoreError(reasons.INTERNAL, "corrupt GGRV index")
            self._keys[4 * t: 4 * t + 4] = sl[0:4]

    def _slice_len(self, t):
        n = self.blocks - t * self._stride
        return n if n < self._stride else self._stride

    def _read_slice(self, sl, t):
        # big-endian u32 keys on flash, swapped in place to native order so
        # viper reads them as a ptr32 (no per-key objects). A slice shorter
        # than the buffer reads block bytes past it: read, never used.
        n = self._slice_len(t)
        self._f.seek(_HEADER + 4 * t * self._stride)
        if self._f.readinto(sl) < 4 * n:
            raise errors.StoreError(reasons.INTERNAL, "truncated GGRV index")
        if sys.byteorder == "little":
            _swap32(sl, n)

    def _block_of(self, key):
        # last block whose index key <= key, or -1
        t = _bisect_keys(self._keys, self._ntop, key)
        if t < 0:
            return -1
        sl = bytearray(4 * self._stride)
        self._read_slice(sl, t)
        # >= 0: the slice starts with the key found in _keys
        return t * self._stride + _bisect_keys(sl, self._slice_len(t), key)

    def _read_block(self, b, j):
        self._f.seek(self._data + j * self.block_size)
        if self._f.readinto(memoryview(b)[: self.block_size]) != self.block_size:
            raise errors.StoreError(reasons.INTERNAL, "truncated GGRV block")
        first = 0
        for i in range(2, 2 + self._vbytes):  # stored right-aligned
            first = (first << 8) | b[i]
        return (b[0] << 8) | b[1], first

    def contains(self, pass_hash):
        if len(pass_hash) != _HASH or self.blocks == 0:
            return False
        v = _top_bits(pass_hash, self.bits)
        j = self._block_of(v >> self.shift)
        # the block buffer (block_size + slack: ~1 KB) and the index slice
        # exist only during a lookup, not between scans (docs/memory.md)
        b = bytearray(self.block_size + _SLACK) if j >= 0 else None
        while j >= 0:
            count, first = self._read_block(b, j)
            if first > v:
                j -= 1  # only when several blocks share this index key
                continue
            t = v - first
            if t == 0:
                return True
            if t >= 0x40000000:
                return False
            r = _scan_block(b, 2 + self._vbytes, self._pay_bits, count, self.k, t)
            if r < 0:
                raise errors.StoreError(reasons.INTERNAL, "corrupt GGRV block")
            return r == 1
        return False

    def close(self):
        self._f.close()


class Delta:
    """Cumulative added/removed hashes since a snapshot (GGRD file), in RAM as
    two sorted byte tables (16 B per entry, no per-entry objects)."""

    def __init__(self, data):
        if len(data) < 20 or data[:4] != b"GGRD" or data[4] != 1:
            raise errors.StoreError(reasons.INTERNAL, "not a GGRD delta")
        self.base_version = _u32(data, 4 + 4)
        na = _u32(data, 12)
        nr = _u32(data, 16)
        if len(data) != 20 + _HASH * (na + nr):
            raise errors.StoreError(reasons.INTERNAL, "bad GGRD length")
        self.added = bytes(data[20: 20 + _HASH * na])
        self.removed = bytes(data[20 + _HASH * na:])
        self.n_added = na
        self.n_removed = nr


class Revocations:
    """The device's view: snapshot + delta. `contains(pass_hash) -> bool`."""

    def __init__(self, snapshot=None, delta=None):
        self.snapshot = snapshot
        self.delta = delta

    @classmethod
    def open(cls, snapshot_path, delta_path=None, stride=0):
        snap = Snapshot(snapshot_path, stride)
        delta = None
        if delta_path:
            try:
                with open(delta_path, "rb") as f:
                    data = f.read()
            except OSError:
                data = None
            if data:
                delta = Delta(data)
                if delta.base_version != snap.list_version:
                    delta = None  # made for another snapshot: ignore it
        return cls(snap, delta)

    def set_delta(self, delta):
        self.delta = delta

    def close(self):
        """Close the snapshot file (before its blob is deleted or replaced)."""
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None

    def contains(self, pass_hash):
        if self.snapshot is None:
            # closed or never opened: "not revoked" would be a lie
            raise errors.StoreError(reasons.NOT_PROVISIONED, "no revocation snapshot")
        d = self.delta
        if d is not None and len(pass_hash) == _HASH:
            if d.n_removed and _bfind(d.removed, d.n_removed, pass_hash):
                return False
            if d.n_added and _bfind(d.added, d.n_added, pass_hash):
                return True
        return self.snapshot.contains(pass_hash)


# -- the signed revocation message (kind 3) and its blobs ---------------------
# body = {1: snapshot blob ref, 2: delta blob ref or null}; a ref is
# {1: sha256, 2: size, 3: chunk_size} (control/blob.py). The committed message
# names the files, so committing it (one rename) switches lists atomically.


def check_body(body):
    """For envelope.verify_message(check=...): ControlError if malformed."""
    from control import blob

    if type(body) is not dict:
        raise errors.ControlError(reasons.CTRL_MALFORMED, "revocation body is not a map")
    blob.check_ref(body.get(1))
    if body.get(2) is not None:
        blob.check_ref(body[2])


def missing(root, body):
    """Blob references of this body not yet on flash (fetch them first)."""
    from control import blob

    out = []
    for key in (1, 2):
        ref = body.get(key)
        if ref is not None and not blob.have(root, ref):
            out.append(ref)
    return out


def open_body(root, body):
    """Revocations for a (verified) body whose blobs are all present."""
    from control import blob

    d = body.get(2)
    return Revocations.open(blob.blob_path(root, body[1][1]),
                            blob.blob_path(root, d[1]) if d is not None else None)
