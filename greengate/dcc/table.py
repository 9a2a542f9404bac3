"""The device's DSC trust table ("GGDT"): a flash file the gate searches by
kid without loading it (firmware/verify/dsc.py reads it; docs/protocol.md,
"DCC trust table").

    table_bytes(signers, version=0) -> bytes         a snapshot
    delta_bytes(old, new, version, base_version) -> bytes   changes since one
    parse(data) -> Table                              host-side reader (tests, tools)

`signers` are objects with the attributes of greengate.dcc.trustlist.Signer:
kid (8 bytes), alg (-7 ES256 | -37 PS256), key (P-256: 65-byte 04||X||Y or
64-byte X||Y; RSA: the modulus, big-endian), e (0 for EC, RSA: 65537 only),
not_before / not_after (unix seconds, 0 = none), country (2 letters),
types (subset of "vtr"; "" = every type).

Layout (big-endian):
    header 32 B: b"GGDT", fmt=1 (u8), kind (u8: 0 snapshot, 1 delta), 2 zero,
                 count (u32), list_version (u32), base_version (u32: the
                 snapshot a delta applies to; 0 in a snapshot),
                 data_size (u32), 8 zero
    index  count x 16 B, kids strictly ascending (no duplicates):
                 kid (8), offset (u32, into data), length (u16),
                 alg (u8: 1 ES256, 2 PS256, 0 removed - delta only),
                 types (u8: bit 0 v, 1 t, 2 r; 7 = every type)
    data   per signer: not_before (u32), not_after (u32, 0 = none),
                 country (2 ASCII capitals), key (EC: 64 B X||Y;
                 RSA: modulus, 256..512 B, no leading zero, e = 65537)
A removed entry (delta) has offset 0, length 0.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

MAGIC = b"GGDT"
FORMAT = 1
SNAPSHOT, DELTA = 0, 1
HEADER = struct.Struct(">4sBB2xIIII8x")
INDEX = struct.Struct(">8sIHBB")
RECORD = struct.Struct(">II2s")
ALG_CODE = {-7: 1, -37: 2}
ALG_OF_CODE = {1: -7, 2: -37}
REMOVED = 0
TYPE_BITS = {"v": 1, "t": 2, "r": 4}
ALL_TYPES = 7
MAX_KEYS = 20000  # the device refuses more (firmware/verify/dsc.py)
U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Entry:
    kid: bytes
    alg: int           # -7, -37, or 0 (removed, delta only)
    key: bytes         # EC: 64 B X||Y; RSA: modulus
    not_before: int
    not_after: int
    country: str
    types: str         # "vtr" order, "" never (all = "vtr")


@dataclass(frozen=True)
class Table:
    kind: int
    version: int
    base_version: int
    entries: list[Entry]

    def find(self, kid: bytes) -> Entry | None:
        for e in self.entries:
            if e.kid == kid:
                return e
        return None


def _types_mask(types: str) -> int:
    if not types:
        return ALL_TYPES
    mask = 0
    for t in types:
        if t not in TYPE_BITS:
            raise ValueError(f"types must be a subset of 'vtr', got {types!r}")
        mask |= TYPE_BITS[t]
    return mask


def _types_text(mask: int) -> str:
    return "".join(t for t in "vtr" if mask & TYPE_BITS[t])


def _clamp(t: int) -> int:
    return max(0, min(int(t or 0), U32))


def _key_bytes(s) -> bytes:
    key = bytes(s.key)
    if s.alg == -7:
        if len(key) == 65 and key[0] == 4:
            key = key[1:]
        if len(key) != 64:
            raise ValueError(f"kid {s.kid.hex()}: P-256 key must be 04||X||Y")
        if getattr(s, "e", 0):
            raise ValueError(f"kid {s.kid.hex()}: e must be 0 for an EC key")
        return key
    if s.alg == -37:
        key = key.lstrip(b"\0")
        if not 256 <= len(key) <= 512:
            raise ValueError(f"kid {s.kid.hex()}: RSA modulus must be 2048..4096 bits")
        if s.e != 65537:
            raise ValueError(f"kid {s.kid.hex()}: RSA exponent must be 65537")
        return key
    raise ValueError(f"kid {bytes(s.kid).hex()}: alg must be -7 or -37, got {s.alg!r}")


def _record(s) -> tuple[bytes, int, int, bytes]:
    kid = bytes(s.kid)
    if len(kid) != 8:
        raise ValueError("kid must be 8 bytes")
    country = s.country or ""
    if len(country) != 2 or not ("A" <= country[0] <= "Z" and "A" <= country[1] <= "Z"):
        raise ValueError(f"kid {kid.hex()}: country must be 2 capital letters, got {country!r}")
    key = _key_bytes(s)
    data = RECORD.pack(_clamp(s.not_before), _clamp(s.not_after), country.encode()) + key
    return kid, ALG_CODE[s.alg], _types_mask(s.types), data


def _build(kind: int, version: int, base_version: int, items: list[tuple[bytes, int, int, bytes]]) -> bytes:
    items = sorted(items, key=lambda it: it[0])
    for a, b in zip(items, items[1:]):
        if a[0] == b[0]:
            raise ValueError(f"duplicate kid {a[0].hex()}: the table holds one key per kid")
    if len(items) > MAX_KEYS:
        raise ValueError(f"more than {MAX_KEYS} keys")
    index = bytearray()
    data = bytearray()
    for kid, alg, types, rec in items:
        index += INDEX.pack(kid, len(data) if rec else 0, len(rec), alg, types)
        data += rec
    head = HEADER.pack(MAGIC, FORMAT, kind, len(items), version & U32, base_version & U32, len(data))
    return head + bytes(index) + bytes(data)


def table_bytes(signers: Iterable, version: int = 0) -> bytes:
    """A snapshot table of these signers (ValueError on a signer the device
    cannot use or on two signers with one kid)."""
    return _build(SNAPSHOT, version, 0, [_record(s) for s in signers])


def delta_bytes(old: Iterable, new: Iterable, version: int, base_version: int) -> bytes:
    """The changes from the snapshot of `old` (version base_version) to `new`:
    new or changed signers in full, removed ones as tombstones."""
    before = {bytes(s.kid): _record(s) for s in old}
    after = {bytes(s.kid): _record(s) for s in new}
    items = [r for kid, r in after.items() if before.get(kid) != r]
    items += [(kid, REMOVED, 0, b"") for kid in before if kid not in after]
    return _build(DELTA, version, base_version, items)


def parse(data: bytes) -> Table:
    """The host's reader (tests, tools); ValueError on any malformed file."""
    if len(data) < HEADER.size:
        raise ValueError("shorter than the header")
    magic, fmt, kind, count, version, base, size = HEADER.unpack_from(data)
    if magic != MAGIC or fmt != FORMAT or kind not in (SNAPSHOT, DELTA):
        raise ValueError("not a GGDT table")
    if count > MAX_KEYS or len(data) != HEADER.size + INDEX.size * count + size:
        raise ValueError("size does not match the header")
    area = HEADER.size + INDEX.size * count
    entries = []
    prev = None
    for i in range(count):
        kid, off, length, alg, types = INDEX.unpack_from(data, HEADER.size + INDEX.size * i)
        if prev is not None and kid <= prev:
            raise ValueError("kids not strictly ascending")
        prev = kid
        if alg == REMOVED and kind == DELTA and off == 0 and length == 0 and types == 0:
            entries.append(Entry(kid, 0, b"", 0, 0, "", ""))
            continue
        if alg not in ALG_OF_CODE or not 1 <= types <= ALL_TYPES or off + length > size:
            raise ValueError("bad index entry")
        klen = length - RECORD.size
        if (alg == 1 and klen != 64) or (alg == 2 and not 256 <= klen <= 512):
            raise ValueError("bad key length")
        nb, na, cc = RECORD.unpack_from(data, area + off)
        key = bytes(data[area + off + RECORD.size: area + off + length])
        if not (65 <= cc[0] <= 90 and 65 <= cc[1] <= 90) or (alg == 2 and key[0] == 0):
            raise ValueError("bad country or RSA modulus")
        entries.append(Entry(kid, ALG_OF_CODE[alg], key, nb, na, cc.decode("ascii"), _types_text(types)))
    return Table(kind, version, base, entries)
