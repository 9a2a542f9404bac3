"""The body of a firmware update offer: control message kind 8 on
gg/v1/dev/{id}/ota, signed with the fleet key like every control message
(greengate.control.envelope.sign_message), docs/protocol.md "Firmware
updates":

  {1: signed release manifest (bytes), 2: blob ref {1: sha256, 2: size,
   3: chunk_size} of the payload, 3: campaign id (uint)}

A manifest too big for the offer (a file bundle lists ~100 files with their
SHA-256: ~5 KB, and a control message is at most 4,000 bytes) travels as a
blob of its own: key 4 = its blob ref instead of key 1. The device fetches
it first, checks its release signature, then fetches the payload.

Both are fetched like any blob (gg/v1/dev/{id}/fetch -> /blob,
greengate.control.blobs.answer_fetch): offer_blobs() gives the fleet what it
must be able to answer."""

from __future__ import annotations

import hashlib

from greengate.control.blobs import DEFAULT_CHUNK, blob_ref
from greengate.control.envelope import KIND_OTA
from greengate.ota.release import Release

__all__ = ["KIND_OTA", "offer_body", "offer_blobs"]
# room left in a 4,000-byte control message for the manifest inline
# (envelope, blob ref, campaign id and signature take ~220 bytes)
INLINE_MANIFEST_MAX = 3600


def offer_body(release: Release, campaign_id: int, chunk_size: int = DEFAULT_CHUNK) -> dict:
    if type(campaign_id) is not int or not 0 <= campaign_id < 2**31:
        raise ValueError("campaign id must be 0..2^31-1")
    body = {2: blob_ref(release.payload, chunk_size), 3: campaign_id}
    if len(release.manifest) <= INLINE_MANIFEST_MAX:
        body[1] = release.manifest
    else:
        body[4] = blob_ref(release.manifest, chunk_size)
    return body


def offer_blobs(release: Release) -> dict[bytes, bytes]:
    """sha256 -> bytes of every blob an offer of this release may ask for
    (the payload, and the manifest when it travels as a blob)."""
    return {hashlib.sha256(b).digest(): b for b in (release.payload, release.manifest)}
