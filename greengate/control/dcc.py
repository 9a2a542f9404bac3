"""Host side of the signed DCC trust-list message (control kind 7, topic
gg/v1/fleet/dcc; docs/protocol.md, "DCC trust list").

    dcc_body(snapshot, delta=None) -> {1: snapshot ref, 2: delta ref or None}
    dcc_files(signers, version, base=None) -> (snapshot, delta or None)

The snapshot and delta are GGDT tables (greengate/dcc/table.py), sent as
blobs like the revocation lists: the device fetches them, checks them whole
and commits the message in one rename (nothing half-applied).
"""

from __future__ import annotations

from collections.abc import Iterable

from greengate.control.blobs import DEFAULT_CHUNK, blob_ref
from greengate.control.envelope import KIND_DCC  # noqa: F401 - 7, re-exported
from greengate.dcc.table import delta_bytes, table_bytes

TOPIC = "gg/v1/fleet/dcc"


def dcc_body(snapshot: bytes, delta: bytes | None = None, chunk_size: int = DEFAULT_CHUNK) -> dict:
    """Body of the kind-7 message: {1: snapshot ref, 2: delta ref or None}."""
    return {1: blob_ref(snapshot, chunk_size), 2: blob_ref(delta, chunk_size) if delta else None}


def dcc_files(signers: Iterable, version: int, base: tuple[int, Iterable] | None = None) -> tuple[bytes, bytes | None]:
    """The blobs of version `version`: a snapshot of `signers`, or with
    base = (base_version, base_signers) the base snapshot again plus a delta
    from it (devices that hold the base fetch only the small delta)."""
    signers = list(signers)
    if base is None:
        return table_bytes(signers, version), None
    base_version, base_signers = base
    base_signers = list(base_signers)
    return (table_bytes(base_signers, base_version),
            delta_bytes(base_signers, signers, version, base_version))
