"""Bounded CBOR (RFC 8949) decoder and deterministic encoder for the device.

No MicroPython CBOR package is suitable for untrusted input on a 100 KB heap,
so the firmware carries its own (written for GreenGate; see
docs/cbor-profile.md for the full profile).

loads(data, max_depth=16, max_items=4096, max_bytes=65536) -> object
    data: bytes / bytearray / memoryview holding exactly ONE item.
    Every failure raises errors.CBORError (reason CBOR) with a detail string.
    - Limits: input length <= max_bytes; nesting of arrays, maps and tags
      <= max_depth (checked before descending: no deep recursion); max_depth
      may only lower the stack bound of 16 (ValueError above it); total
      decoded items (every data item, string chunks included) <= max_items.
    - Declared lengths of strings, arrays and maps are checked against the
      remaining input BEFORE anything is allocated.
    - Trailing bytes after the item are rejected.
    - Indefinite-length strings, arrays and maps are accepted (the EU DCC
      corpus uses them); string chunks must be definite strings of the
      same major type.
    - Not well-formed input is rejected: reserved additional info 28..30,
      indefinite length on major types 0/1/6, a break outside an indefinite
      item, two-byte simple values below 32 (0xf8 0x00..0x1f).
    - Text strings must be valid UTF-8 (strict: no overlongs, surrogates or
      code points above U+10FFFF).
    - Map keys: int, str or bytes only; a duplicate key is rejected.
    - Mapping: uint/nint -> int, bstr -> bytes, tstr -> str, array -> list,
      map -> dict, false/true/null -> False/True/None, undefined ->
      UNDEFINED, other simple values -> Simple(n), floats (half decoded by
      hand, single, double) -> float, tags -> Tag(tag, value) except the
      bignums: tags 2/3 over a byte string of at most 64 bytes -> int
      (anything else under tag 2/3 is rejected).
    - Non-shortest integer/length encodings are accepted (well-formed);
      only the encoder is deterministic.
    - On ESP32 floats are single precision: doubles lose precision there.

dumps(obj) -> bytes
    RFC 8949 section 4.2.1 core deterministic encoding: shortest integer
    arguments, definite lengths only, map keys sorted by their encoded bytes
    (bytewise), floats in the shortest of half/single/double that keeps the
    value (NaN as 0xf97e00), ints beyond 64 bits as bignums (tags 2/3).
    Types: int, bool, None, bytes/bytearray/memoryview, str, list/tuple, dict,
    float, Tag, Simple, UNDEFINED. Anything else, duplicate encoded map keys
    or nesting deeper than 16 raises errors.CBORError.

Both recurse once per nesting level: 16 levels keep the C stack of an
ESP32's 16 KB MicroPython task safe (~210-240 B a level on a 32-bit build,
docs/cbor-profile.md "Stack"); no GreenGate message nests deeper than 7.
"""
import struct
import sys

from micropython import const

import errors

_MPY = sys.implementation.name == "micropython"
_BIGNUM_MAX = const(64)  # bytes of a tag 2/3 bignum we turn into an int
_DEPTH = const(16)  # nesting bound of both directions: C stack (see above)


class Tag:
    """A tagged item: .tag (int) and .value."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


class Simple:
    """An unassigned simple value (0..19, 32..255)."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Simple) and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "simple(%d)" % self.value


class _Undefined:
    def __repr__(self):
        return "undefined"


UNDEFINED = _Undefined()


def _err(detail):
    return errors.CBORError(None, detail)


# -- strict UTF-8 check ------------------------------------------------------
if _MPY:
    import micropython

    # MicroPython's str() accepts surrogates, overlongs and > U+10FFFF.
    @micropython.viper
    def _utf8_invalid(s: ptr8, n: int) -> int:
        i = 0
        while i < n:
            c = s[i]
            if c < 0x80:
                i += 1
                continue
            if c < 0xC2:
                return 1
            lo = 0x80
            hi = 0xBF
            if c < 0xE0:
                need = 1
            elif c < 0xF0:
                need = 2
                if c == 0xE0:
                    lo = 0xA0
                elif c == 0xED:
                    hi = 0x9F
            elif c < 0xF5:
                need = 3
                if c == 0xF0:
                    lo = 0x90
                elif c == 0xF4:
                    hi = 0x8F
            else:
                return 1
            if i + need >= n:
                return 1
            c = s[i + 1]
            if c < lo or c > hi:
                return 1
            j = 2
            while j <= need:
                if (s[i + j] & 0xC0) != 0x80:
                    return 1
                j += 1
            i += need + 1
        return 0

    def _text(b):
        if _utf8_invalid(b, len(b)):
            raise _err("invalid UTF-8 in text string")
        return str(b, "utf-8")

else:

    def _text(b):
        try:
            return b.decode("utf-8")
        except UnicodeError:
            raise _err("invalid UTF-8 in text string")


def _half(h):
    import math

    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0:
        v = math.ldexp(m, -24)
    elif e == 31:
        v = float("inf") if m == 0 else float("nan")
    else:
        v = math.ldexp(m + 1024, e - 25)
    return -v if h & 0x8000 else v


_BREAK = object()


class _Reader:
    def __init__(self, data, max_depth, max_items):
        self.d = data
        self.p = 0
        self.n = len(data)
        self.max_depth = max_depth
        self.items = max_items

    def item(self, depth, brk=False):
        d = self.d
        p = self.p
        n = self.n
        if p >= n:
            raise _err("truncated")
        ib = d[p]
        p += 1
        mt = ib >> 5
        ai = ib & 31
        if ai < 24:
            arg = ai
        elif ai < 28:
            k = 1 << (ai - 24)
            if p + k > n:
                raise _err("truncated")
            if k == 1:
                arg = d[p]
            elif k == 2:
                arg = (d[p] << 8) | d[p + 1]
            else:
                arg = int.from_bytes(d[p:p + k], "big")
            p += k
        elif ai == 31:
            if mt == 7:
                if brk:
                    self.p = p
                    return _BREAK
                raise _err("unexpected break")
            if mt < 2 or mt == 6:
                raise _err("indefinite length on major type %d" % mt)
            arg = -1
        else:
            raise _err("reserved additional information %d" % ai)
        self.p = p
        self.items -= 1
        if self.items < 0:
            raise _err("too many items")

        if mt == 0:
            return arg
        if mt == 1:
            return -1 - arg
        if mt < 4:  # byte / text string
            if arg < 0:
                return self._chunks(mt)
            if arg > n - p:
                raise _err("string length %d exceeds input" % arg)
            self.p = p + arg
            b = d[p:p + arg]
            return _text(b) if mt == 3 else b
        if mt == 4:
            if depth >= self.max_depth:
                raise _err("nesting deeper than %d" % self.max_depth)
            out = []
            if arg < 0:
                while True:
                    v = self.item(depth + 1, True)
                    if v is _BREAK:
                        return out
                    out.append(v)
            if arg > n - p:
                raise _err("array length %d exceeds input" % arg)
            for _ in range(arg):
                out.append(self.item(depth + 1))
            return out
        if mt == 5:
            if depth >= self.max_depth:
                raise _err("nesting deeper than %d" % self.max_depth)
            out = {}
            if arg < 0:
                while True:
                    k = self.item(depth + 1, True)
                    if k is _BREAK:
                        return out
                    self._put(out, k, self.item(depth + 1))
            if arg > (n - p) // 2:
                raise _err("map length %d exceeds input" % arg)
            for _ in range(arg):
                k = self.item(depth + 1)
                self._put(out, k, self.item(depth + 1))
            return out
        if mt == 6:
            if depth >= self.max_depth:
                raise _err("nesting deeper than %d" % self.max_depth)
            v = self.item(depth + 1)
            if arg == 2 or arg == 3:
                if not isinstance(v, bytes):
                    raise _err("bignum tag %d needs a byte string" % arg)
                if len(v) > _BIGNUM_MAX:
                    raise _err("bignum longer than %d bytes" % _BIGNUM_MAX)
                v = int.from_bytes(v, "big") if v else 0
                return v if arg == 2 else -1 - v
            return Tag(arg, v)
        # major type 7
        if ai < 20:
            return Simple(ai)
        if ai == 20:
            return False
        if ai == 21:
            return True
        if ai == 22:
            return None
        if ai == 23:
            return UNDEFINED
        if ai == 24:
            if arg < 32:
                raise _err("simple value %d in two bytes" % arg)
            return Simple(arg)
        if ai == 25:
            return _half(arg)
        if ai == 26:
            return struct.unpack(">f", d[p - 4:p])[0]
        return struct.unpack(">d", d[p - 8:p])[0]

    def _chunks(self, mt):
        parts = []
        d = self.d
        while True:
            p = self.p
            if p >= self.n:
                raise _err("truncated")
            ib = d[p]
            if ib == 0xFF:
                self.p = p + 1
                break
            if ib >> 5 != mt or (ib & 31) == 31:
                raise _err("bad chunk in indefinite-length string")
            parts.append(self.item(0))
        if mt == 3:
            return "".join(parts)
        return b"".join(parts)

    def _put(self, m, k, v):
        t = type(k)
        if t is not int and t is not str and t is not bytes:
            raise _err("map key of type %s" % t.__name__)
        if k in m:
            raise _err("duplicate map key")
        m[k] = v


def loads(data, max_depth=_DEPTH, max_items=4096, max_bytes=65536):
    if max_depth > _DEPTH:
        raise ValueError("max_depth above %d" % _DEPTH)
    if not isinstance(data, bytes):
        if not isinstance(data, (bytearray, memoryview)):
            raise _err("not bytes")
        data = bytes(data)
    if len(data) > max_bytes:
        raise _err("input longer than %d bytes" % max_bytes)
    r = _Reader(data, max_depth, max_items)
    v = r.item(0)
    if r.p != r.n:
        raise _err("%d trailing bytes" % (r.n - r.p))
    return v


# -- encoder -----------------------------------------------------------------
def head(major, n):
    """The shortest head (initial byte + argument) for major type / value n."""
    mt = major << 5
    if n < 24:
        return bytes((mt | n,))
    if n < 0x100:
        return bytes((mt | 24, n))
    if n < 0x10000:
        return bytes((mt | 25, n >> 8, n & 0xFF))
    if n < 0x100000000:
        return bytes((mt | 26,)) + n.to_bytes(4, "big")
    return bytes((mt | 27,)) + n.to_bytes(8, "big")


def _float(out, f):
    if f != f:
        out.extend(b"\xf9\x7e\x00")
        return
    try:
        single = struct.pack(">f", f)
    except OverflowError:  # CPython; MicroPython packs an infinity instead
        single = None
    if single is None or struct.unpack(">f", single)[0] != f:
        out.append(0xFB)
        out.extend(struct.pack(">d", f))
        return
    bits = int.from_bytes(single, "big")
    s = (bits >> 16) & 0x8000
    e = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    h = -1
    if e == 255:
        h = s | 0x7C00  # infinity (NaN handled above)
    elif e == 0 and m == 0:
        h = s
    elif e != 0:
        ue = e - 127
        if -14 <= ue <= 15:
            if m & 0x1FFF == 0:
                h = s | ((ue + 15) << 10) | (m >> 13)
        elif -24 <= ue < -14:
            full = m | 0x800000
            shift = -ue - 1
            if full & ((1 << shift) - 1) == 0:
                h = s | (full >> shift)
    if h >= 0:
        out.append(0xF9)
        out.append(h >> 8)
        out.append(h & 0xFF)
    else:
        out.append(0xFA)
        out.extend(single)


def _enc(out, obj, depth):
    if depth > _DEPTH:
        raise _err("encoder nesting deeper than %d" % _DEPTH)
    t = type(obj)
    if obj is True:
        out.append(0xF5)
    elif obj is False:
        out.append(0xF4)
    elif obj is None:
        out.append(0xF6)
    elif t is int:
        if obj >= 0:
            if obj < 0x10000000000000000:
                out.extend(head(0, obj))
            else:
                out.append(0xC2)
                _enc_bignum(out, obj)
        else:
            m = -1 - obj
            if m < 0x10000000000000000:
                out.extend(head(1, m))
            else:
                out.append(0xC3)
                _enc_bignum(out, m)
    elif t is bytes or t is bytearray or t is memoryview:
        out.extend(head(2, len(obj)))
        out.extend(obj)
    elif t is str:
        b = obj.encode()
        out.extend(head(3, len(b)))
        out.extend(b)
    elif t is list or t is tuple:
        out.extend(head(4, len(obj)))
        for v in obj:
            _enc(out, v, depth + 1)
    elif t is dict:
        pairs = []
        for k in obj:
            kb = bytearray()
            _enc(kb, k, depth + 1)
            pairs.append((bytes(kb), k))
        pairs.sort(key=_first)
        out.extend(head(5, len(pairs)))
        last = None
        for kb, k in pairs:
            if kb == last:
                raise _err("duplicate encoded map key")
            last = kb
            out.extend(kb)
            _enc(out, obj[k], depth + 1)
    elif t is float:
        _float(out, obj)
    elif t is Tag:
        if type(obj.tag) is not int or not 0 <= obj.tag < 0x10000000000000000:
            raise _err("tag number out of range")
        out.extend(head(6, obj.tag))
        _enc(out, obj.value, depth + 1)
    elif t is Simple:
        if type(obj.value) is not int or not (0 <= obj.value < 20 or 32 <= obj.value < 256):
            raise _err("simple value out of range")
        if obj.value < 24:
            out.append(0xE0 | obj.value)
        else:
            out.append(0xF8)
            out.append(obj.value)
    elif obj is UNDEFINED:
        out.append(0xF7)
    else:
        raise _err("cannot encode %s" % t.__name__)


def _first(pair):
    return pair[0]


def _enc_bignum(out, n):
    size = (n.bit_length() + 7) // 8 if hasattr(n, "bit_length") else _byte_len(n)
    b = n.to_bytes(size, "big")
    out.extend(head(2, len(b)))
    out.extend(b)


def _byte_len(n):
    size = 0
    while n:
        n >>= 8
        size += 1
    return size


def dumps(obj):
    out = bytearray()
    _enc(out, obj, 0)
    return bytes(out)
