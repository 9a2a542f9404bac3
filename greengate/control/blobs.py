"""Blobs: payloads too big for one ~1 KiB MQTT message (revocation snapshot
and delta, worker allowlist), referenced from a signed control message by
SHA-256 and sent on request in chunks (docs/protocol.md, "Blobs")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cbor2

DEFAULT_CHUNK = 768  # chunk data; the chunk message is ~790 bytes
MAX_CHUNK = 1024
MAX_WINDOW = 16


def blob_ref(data: bytes, chunk_size: int = DEFAULT_CHUNK) -> dict:
    """{1: sha256, 2: size, 3: chunk_size}: what a signed body carries."""
    if not data:
        raise ValueError("empty blob")
    if not 64 <= chunk_size <= MAX_CHUNK:
        raise ValueError("chunk_size must be 64..1024")
    return {1: hashlib.sha256(data).digest(), 2: len(data), 3: chunk_size}


def chunk_count(size: int, chunk_size: int) -> int:
    return (size + chunk_size - 1) // chunk_size


def chunk_message(data: bytes, index: int, chunk_size: int = DEFAULT_CHUNK,
                  sha256: bytes | None = None) -> bytes:
    """The CBOR chunk published on gg/v1/dev/{id}/blob (`sha256`: the data's,
    when the caller has it: a firmware payload is hundreds of KB)."""
    count = chunk_count(len(data), chunk_size)
    if not 0 <= index < count:
        raise IndexError("chunk index out of range")
    return cbor2.dumps(
        {
            1: (sha256 or hashlib.sha256(data).digest())[:8],
            2: index,
            3: count,
            4: data[index * chunk_size : (index + 1) * chunk_size],
        }
    )


@dataclass(frozen=True)
class FetchRequest:
    sha256: bytes
    first: int
    window: int


def parse_fetch(payload: bytes) -> FetchRequest:
    """A device's request on gg/v1/dev/{id}/fetch; ValueError if malformed."""
    try:
        m = cbor2.loads(payload)
    except Exception as e:  # cbor2 raises several types on garbage
        raise ValueError(f"fetch request is not CBOR: {e}") from None
    if not isinstance(m, dict):
        raise ValueError("fetch request is not a map")
    sha, first, window = m.get(1), m.get(2), m.get(3, MAX_WINDOW)
    if not isinstance(sha, bytes) or len(sha) != 32:
        raise ValueError("fetch: 1 must be a 32-byte sha256")
    if type(first) is not int or first < 0 or type(window) is not int or not 1 <= window <= MAX_WINDOW:
        raise ValueError("fetch: 2 first index >= 0, 3 window 1..16")
    return FetchRequest(sha, first, window)


def answer_fetch(req: FetchRequest, data: bytes, chunk_size: int = DEFAULT_CHUNK,
                 checked: bool = False) -> list[bytes]:
    """Chunk messages answering a request for `data` (empty if past the end).
    checked=True: the caller already knows SHA-256(data) == req.sha256 (the
    bridge checks a blob once when it loads it: hashing a 240 KB firmware
    payload again for every 16-chunk request cost 2 ms of a 2.8 ms answer)."""
    if not checked and hashlib.sha256(data).digest() != req.sha256:
        raise ValueError("request is for another blob")
    count = chunk_count(len(data), chunk_size)
    return [chunk_message(data, i, chunk_size, req.sha256)
            for i in range(req.first, min(count, req.first + req.window))]
