"""Host side of the device revocation store: build snapshot and delta files.

Snapshot file ("GGRV", read by firmware/store/revocation.py) = a Golomb-coded
set: every pass hash (SHA-256(signature)[:16]) becomes an F-bit fingerprint
(its top F bits, F = ceil(log2(n / eps))); the sorted, de-duplicated
fingerprints are Rice-coded as gaps inside fixed-size blocks so the device
reads exactly one block from flash per lookup. Layout (big-endian):

    header  32 B: b"GGRV", fmt=1 (u8), F (u8), k (u8), key_shift (u8),
                  block_size (u32), entries (u32), blocks (u32),
                  list_version (u32), reserved 8 B (zero)
    index   blocks x u32: first fingerprint of each block >> key_shift
    blocks  blocks x block_size B, zero padded:
              count (u16), first fingerprint (ceil(F/8) B),
              then count-1 Rice codes of the gaps (q one-bits, a zero bit,
              k remainder bits, MSB first)

A block never spans more than 2**30 fingerprint values (the device decodes
offsets in 32-bit viper words). Delta file ("GGRD") = cumulative changes since
the snapshot: header b"GGRD", fmt=1, 3 zero bytes, base snapshot version
(u32), added count (u32), removed count (u32), then sorted 16-byte added
hashes, then sorted 16-byte removed hashes.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

MAGIC = b"GGRV"
DELTA_MAGIC = b"GGRD"
FORMAT = 1
HEADER = struct.Struct(">4sBBBBIIII8x")
DELTA_HEADER = struct.Struct(">4sB3xIII")
BLOCK_HEAD = 2  # u16 count, then the first fingerprint
HASH_LEN = 16
MAX_SPAN = 1 << 30  # values inside one block stay below this offset
DEFAULT_EPS = 1e-6
DEFAULT_BLOCK = 1024
MAX_BITS = 48


@dataclass(frozen=True)
class SnapshotInfo:
    entries: int
    fingerprint_bits: int
    rice_k: int
    block_size: int
    blocks: int
    size: int
    sha256: bytes

    @property
    def bits_per_entry(self) -> float:
        return self.size * 8 / max(self.entries, 1)

    @property
    def false_positive_rate(self) -> float:
        """Expected rate for a hash that is not in the set: n / 2**F."""
        return min(1.0, self.entries / float(1 << self.fingerprint_bits))


def fingerprint_bits(n: int, eps: float = DEFAULT_EPS) -> int:
    if not 0 < eps < 1:
        raise ValueError("eps must be in (0, 1)")
    bits = math.ceil(math.log2(max(n, 1) / eps))
    return max(16, min(MAX_BITS, bits))


def fingerprint(pass_hash: bytes, bits: int) -> int:
    if len(pass_hash) != HASH_LEN:
        raise ValueError("a pass hash is 16 bytes")
    return int.from_bytes(pass_hash[:8], "big") >> (64 - bits)


def _rice_k(values: list[int]) -> int:
    """The Rice parameter that codes these sorted values in the fewest bits."""
    if len(values) < 2:
        return 0
    gaps = [b - a for a, b in zip(values, values[1:])]
    mean = max(1.0, sum(gaps) / len(gaps))
    k0 = max(0, min(29, int(math.log2(mean * math.log(2)))))
    best = None
    for k in range(max(0, k0 - 1), min(29, k0 + 1) + 1):
        cost = sum(g >> k for g in gaps) + (k + 1) * len(gaps)
        if best is None or cost < best[0]:
            best = (cost, k)
    return best[1]


def build_snapshot(
    hashes: Iterable[bytes],
    eps: float = DEFAULT_EPS,
    block_size: int = DEFAULT_BLOCK,
    list_version: int = 0,
) -> tuple[bytes, SnapshotInfo]:
    """Encode a set of 16-byte pass hashes as a GGRV snapshot file."""
    hashes = list(hashes)
    for h in hashes:
        if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_LEN:
            raise ValueError("every entry must be a 16-byte pass hash")
    if not 64 <= block_size <= 65536:
        raise ValueError("block_size must be 64..65536 bytes")
    bits = fingerprint_bits(len(hashes), eps)
    values = sorted({fingerprint(h, bits) for h in hashes})
    k = _rice_k(values)
    vbytes = (bits + 7) // 8
    shift = max(0, bits - 30)
    payload_bits = (block_size - BLOCK_HEAD - vbytes) * 8
    if payload_bits < k + 1:
        raise ValueError("block_size too small for this Rice parameter")

    blocks: list[bytes] = []
    keys: list[int] = []
    i, n = 0, len(values)
    while i < n:
        first = values[i]
        acc, used, count, prev = 0, 0, 1, first
        j = i + 1
        while j < n and count < 0xFFFF:
            gap = values[j] - prev
            if values[j] - first >= MAX_SPAN:
                break
            q = gap >> k
            need = q + 1 + k
            if used + need > payload_bits:
                break
            # q one-bits, a zero bit, then k remainder bits
            code = (((1 << q) - 1) << (k + 1)) | (gap & ((1 << k) - 1))
            acc = (acc << need) | code
            used += need
            prev = values[j]
            count += 1
            j += 1
        body = acc << (payload_bits - used)
        blocks.append(
            struct.pack(">H", count)
            + first.to_bytes(vbytes, "big")
            + body.to_bytes(payload_bits // 8, "big")
        )
        keys.append(first >> shift)
        i = j

    header = HEADER.pack(
        MAGIC, FORMAT, bits, k, shift, block_size, len(values), len(blocks), list_version
    )
    index = struct.pack(f">{len(keys)}I", *keys)
    data = header + index + b"".join(blocks)
    info = SnapshotInfo(
        entries=len(values),
        fingerprint_bits=bits,
        rice_k=k,
        block_size=block_size,
        blocks=len(blocks),
        size=len(data),
        sha256=hashlib.sha256(data).digest(),
    )
    return data, info


def build_delta(added: Iterable[bytes], removed: Iterable[bytes], base_version: int) -> bytes:
    """Cumulative changes since snapshot `base_version` as a GGRD file."""
    add = sorted(set(added))
    rem = sorted(set(removed) - set(add))
    for h in add + rem:
        if len(h) != HASH_LEN:
            raise ValueError("every entry must be a 16-byte pass hash")
    return (
        DELTA_HEADER.pack(DELTA_MAGIC, FORMAT, base_version, len(add), len(rem))
        + b"".join(add)
        + b"".join(rem)
    )


def parse_delta(data: bytes) -> tuple[int, list[bytes], list[bytes]]:
    magic, fmt, base, na, nr = DELTA_HEADER.unpack_from(data)
    if magic != DELTA_MAGIC or fmt != FORMAT:
        raise ValueError("not a GGRD delta")
    off = DELTA_HEADER.size
    if len(data) != off + HASH_LEN * (na + nr):
        raise ValueError("delta length does not match its counts")
    items = [data[off + i * HASH_LEN : off + (i + 1) * HASH_LEN] for i in range(na + nr)]
    return base, items[:na], items[na:]


def merge(base: Iterable[bytes], added: Iterable[bytes], removed: Iterable[bytes]) -> set[bytes]:
    """The hash set the next snapshot encodes: base + added - removed."""
    return (set(base) | set(added)) - set(removed)


def contains(data: bytes, pass_hash: bytes) -> bool:
    """Reference lookup (CPython) used to cross-check the device reader."""
    magic, fmt, bits, k, shift, bsize, _n, nblocks, _v = HEADER.unpack_from(data)
    if magic != MAGIC or fmt != FORMAT:
        raise ValueError("not a GGRV snapshot")
    v = fingerprint(pass_hash, bits)
    keys = struct.unpack_from(f">{nblocks}I", data, HEADER.size)
    base = HEADER.size + 4 * nblocks
    vbytes = (bits + 7) // 8
    import bisect

    j = bisect.bisect_right(keys, v >> shift) - 1
    while j >= 0:
        blk = data[base + j * bsize : base + (j + 1) * bsize]
        count = int.from_bytes(blk[:2], "big")
        cur = int.from_bytes(blk[2 : 2 + vbytes], "big")
        if cur > v:
            j -= 1
            continue
        bitstr = int.from_bytes(blk[2 + vbytes :], "big")
        total = (bsize - 2 - vbytes) * 8
        pos = 0
        for _ in range(count - 1):
            if cur >= v:
                break
            q = 0
            while (bitstr >> (total - 1 - pos)) & 1:
                q += 1
                pos += 1
            pos += 1
            r = (bitstr >> (total - pos - k)) & ((1 << k) - 1) if k else 0
            pos += k
            cur += (q << k) | r
        return cur == v
    return False


def revocation_body(snapshot: bytes, delta: bytes | None = None, chunk_size: int = 768) -> dict:
    """Body of the signed kind-3 message: {1: snapshot ref, 2: delta ref or None}."""
    from greengate.control.blobs import blob_ref

    return {1: blob_ref(snapshot, chunk_size), 2: blob_ref(delta, chunk_size) if delta else None}
