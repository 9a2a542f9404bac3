# The worker allowlist, searched where it lies on flash: no table in RAM.
#
# The usual blob (what the fleet sends: a definite-length CBOR array of short
# byte strings, 8..16 bytes, sorted) is searched in place. Opening it reads
# it once, page by page: it checks the shape and the order and keeps, for
# every page of `page` entries (~sqrt(n), a multiple of 16: 32 for 500), the
# page's file offset and its first entry as a record. A lookup is a viper binary
# search of those first records, one read of that page into a buffer
# allocated for the lookup and a viper walk of at most `page` entries.
# RAM for 500 entries: ~0.9 KB with objects, the page buffer (544 B) only
# during a lookup (was 8.5 KB of records). Damage met by a lookup raises StoreError (the
# worker rule then answers RULE_ERROR: deny).
#
# A record is the entry zero-padded to 16 bytes, then its length: distinct
# entries give distinct records, and records compare like the entries'
# bytes (so a blob sorted as byte strings is sorted as records).
#
# Any other shape (unsorted, indefinite length, longer headers, trailing
# bytes...) raises Unusual: gate.rules.load_allowlist then decodes it in RAM
# once (with the precise error if it is not a valid list), sorts it and
# writes a sorted copy in the usual shape next to the blob (write_sorted),
# which is searched the same way.
#
# The file stays open: a LittleFS handle costs ~240 bytes on the ESP32
# (128-byte cache with the default 32-byte read/prog sizes), reopening it
# per scan would walk the directory on flash every time.
from array import array

import micropython
from micropython import const

import errors
from verify import reasons

_W = const(17)  # record width
_PAD = const(16)
_MAX = const(20000)  # entries; the general decoder's cap too
_PAGE_MIN = const(16)
SORTED_NAME = "allow_sorted.cbor"


class Unusual(Exception):
    """Not the usual blob shape: decode it in RAM and search a sorted copy."""


@micropython.viper
def _record_at(dst: ptr8, d: int, src: ptr8, s: int, n: int):
    # dst[d:d+17] = src[s:s+n] zero-padded to 16, then n
    i = 0
    while i < n:
        dst[d + i] = src[s + i]
        i += 1
    while i < 16:
        dst[d + i] = 0
        i += 1
    dst[d + 16] = n


@micropython.viper
def _cmp_rec(a: ptr8, b: ptr8) -> int:
    # two 17-byte records: <0, 0, >0
    i = 0
    while i < 17:
        c = int(a[i]) - int(b[i])
        if c != 0:
            return c
        i += 1
    return 0


@micropython.viper
def _find_page(firsts: ptr8, npages: int, rec: ptr8) -> int:
    # last page whose first record <= rec, or -1
    lo = 0
    hi = npages
    while lo < hi:
        mid = (lo + hi) >> 1
        base = mid * 17
        c = 0
        i = 0
        while i < 17:
            c = int(firsts[base + i]) - int(rec[i])
            if c != 0:
                break
            i += 1
        if c <= 0:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


@micropython.viper
def _scan_page(buf: ptr8, end: int, rec: ptr8) -> int:
    # walk the sorted CBOR byte strings in buf[0:end]: 1 found, 0 absent,
    # -1 not a page of valid entries (the file changed under us)
    o = 0
    while o < end:
        n = int(buf[o]) - 0x40
        if n < 8 or n > 16 or o + 1 + n > end:
            return -1
        c = 0
        i = 0
        while i < 16:
            a = 0
            if i < n:
                a = int(buf[o + 1 + i])
            c = a - int(rec[i])
            if c != 0:
                break
            i += 1
        if c == 0:
            c = n - int(rec[16])
        if c == 0:
            return 1
        if c > 0:
            return 0
        o += 1 + n
    return 0


def _array_head(h):
    """(count, header length) of a definite CBOR array head, or Unusual."""
    if len(h) >= 1 and 0x80 <= h[0] <= 0x97:
        return h[0] - 0x80, 1
    if len(h) >= 2 and h[0] == 0x98:
        return h[1], 2
    if len(h) >= 3 and h[0] == 0x99:
        return (h[1] << 8) | h[2], 3
    raise Unusual()  # 4-byte counts are above the 20,000-entry cap anyway


class Allowlist:
    """`key in allowlist` for pass hashes / cti (8..16 bytes), searched in
    the blob file at `path`. page (tests): entries per page, 0 = automatic.
    Raises Unusual for a blob of another shape, StoreError if unreadable."""

    def __init__(self, path, page=0):
        try:
            self._f = open(path, "rb")
        except OSError:
            raise errors.StoreError(reasons.NOT_PROVISIONED, "no allowlist blob")
        try:
            self._index(page)
        except Exception:
            self._f.close()
            raise

    def _index(self, page):
        f = self._f
        size = f.seek(0, 2)
        f.seek(0)
        count, pos = _array_head(f.read(3))
        if count > _MAX:
            raise Unusual()
        if page <= 0:
            page = _PAGE_MIN
            while page * page < count:
                page += _PAGE_MIN
        npages = (count + page - 1) // page
        self._n = count
        self._npages = npages
        self._firsts = bytearray(_W * npages)
        self._offs = array("I", range(npages + 1))  # file offset of each page
        # the page buffer (<= 544 B) is allocated per lookup, not held
        # between scans (issue 11: the steady heap)
        self._page_bytes = _W * (page if page < count else max(count, 1))
        self._rec = bytearray(_W)  # the probe
        # one pass, a page buffer as the read buffer: shape, order, first records
        buf = bytearray(self._page_bytes)
        cur = self._rec
        prev = bytearray(_W)  # below every record (length 0)
        firsts = self._firsts
        base = have = 0
        for i in range(count):
            o = pos - base
            if o + _W > have:
                f.seek(pos)
                have = f.readinto(buf)
                base = pos
                o = 0
            if o >= have:
                raise Unusual()  # truncated
            n = buf[o] - 0x40  # major type 2, length in the initial byte
            if n < 8 or n > _PAD or o + 1 + n > have:
                raise Unusual()
            _record_at(cur, 0, buf, o + 1, n)
            if _cmp_rec(cur, prev) < 0:
                raise Unusual()  # not sorted
            if i % page == 0:
                firsts[(i // page) * _W:(i // page + 1) * _W] = cur
                self._offs[i // page] = pos
            cur, prev = prev, cur
            pos += 1 + n
        if pos != size:
            raise Unusual()  # trailing bytes
        self._offs[npages] = pos

    def __len__(self):
        return self._n

    def __contains__(self, key):
        try:
            n = len(key)
        except TypeError:
            return False
        if not 8 <= n <= _PAD or not self._npages:
            return False
        rec = self._rec
        _record_at(rec, 0, key, 0, n)
        j = _find_page(self._firsts, self._npages, rec)
        if j < 0:
            return False
        start = self._offs[j]
        n = self._offs[j + 1] - start
        buf = bytearray(self._page_bytes)
        self._f.seek(start)
        if self._f.readinto(buf) < n:
            raise errors.StoreError(reasons.INTERNAL, "allowlist file truncated")
        r = _scan_page(buf, n, rec)
        if r < 0:
            raise errors.StoreError(reasons.INTERNAL, "allowlist file corrupt")
        return r == 1

    def close(self):
        self._f.close()


# -- any other shape: records in RAM once, then a sorted copy on flash ---------


def _record(entry):
    n = len(entry)
    return bytes(entry) + bytes(_PAD - n) + bytes((n,))


def table_of(entries):
    """entries: iterable of 8..16-byte bytes (checked by the caller) ->
    sorted records, one bytes blob of _W-byte records."""
    return b"".join(sorted(_record(e) for e in entries))


def parse(data):
    """Records for a definite-length CBOR array of definite short byte
    strings (8..16 bytes), in any order, without building a list of bytes
    objects: sorted records, or None when the blob has any other shape (the
    caller then decodes it with the general CBOR decoder, which also gives
    the precise error)."""
    try:
        count, pos = _array_head(data[:3])
    except Unusual:
        return None
    if count > _MAX:
        return None
    table = bytearray(count * _W)
    o = 0
    end = len(data)
    for _ in range(count):
        if pos >= end:
            return None
        n = data[pos] - 0x40
        if not 8 <= n <= _PAD or pos + 1 + n > end:
            return None
        _record_at(table, o, data, pos + 1, n)
        o += _W
        pos += 1 + n
    if pos != end:
        return None  # trailing bytes: let the general decoder refuse them
    return b"".join(sorted(bytes(table[i:i + _W]) for i in range(0, len(table), _W)))


def sorted_path(path):
    """Where the sorted copy of the blob at path goes (one per directory:
    only the current allowlist's copy is ever needed)."""
    i = path.rfind("/")
    return (path[:i + 1] if i >= 0 else "") + SORTED_NAME


def write_sorted(path, table):
    """Write the records as a sorted blob of the usual shape next to path,
    atomically (temp file + rename); returns its path."""
    import fsutil

    count = len(table) // _W
    if count < 24:
        head = bytes((0x80 + count,))
    elif count < 256:
        head = bytes((0x98, count))
    else:
        head = bytes((0x99, count >> 8, count & 255))
    out = bytearray(head)
    for i in range(0, len(table), _W):
        n = table[i + _PAD]
        out.append(0x40 + n)
        out.extend(table[i:i + n])
    dst = sorted_path(path)
    fsutil.write_atomic(dst, out)
    return dst
