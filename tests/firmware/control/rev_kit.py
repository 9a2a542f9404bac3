"""Deterministic revocation test sets, and a 1,000,000-entry snapshot built
once and cached under /tmp (keyed by seed and size)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from greengate.control import revocation as rv

CACHE = Path(tempfile.gettempdir()) / "gg-control-cache"


def key(tag: str, seed: int, i: int) -> bytes:
    # the same derivation as drivers/rev_driver.py
    return hashlib.sha256(b"%s%d:" % (tag.encode(), seed) + i.to_bytes(4, "big")).digest()[:16]


def members(seed: int, n: int) -> list[bytes]:
    return [key("m", seed, i) for i in range(n)]


def cached_snapshot(seed: int, n: int, list_version: int = 1) -> tuple[Path, rv.SnapshotInfo]:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"rev-{seed}-{n}-{list_version}.ggrv"
    if not path.exists():
        data, _ = rv.build_snapshot(members(seed, n), list_version=list_version)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        tmp.rename(path)
    data = path.read_bytes()
    return path, _info(data)


def _info(data: bytes) -> rv.SnapshotInfo:
    magic, fmt, bits, k, _shift, bsize, n, blocks, _v = rv.HEADER.unpack_from(data)
    return rv.SnapshotInfo(n, bits, k, bsize, blocks, len(data), hashlib.sha256(data).digest())
