"""Signed firmware releases on the fleet side (issue 14): publish, list, load.

Key roles (docs/protocol.md "Key roles"): a release manifest is signed by a
RELEASE key on the release manager's machine (`greengate fleet release
build`); the fleet service holds only the release PUBLIC keys
(`GREENGATE_RELEASE_PUBLIC_KEYS`) to refuse, at publish time, a release the
gates would refuse anyway. It never holds a release private key, and a
release public key equal to the fleet's own control key is refused: a
compromised fleet service must not be able to make a release the gates accept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.models import Blob, Release
from fleet.services import audit
from fleet.services.control import store_blob
from greengate.ota import release as ota_release

INT32 = (1 << 31) - 1


def parse_public_keys(values: list[str]) -> list[bytes]:
    """Release public keys as 64 hex characters each (raw Ed25519)."""
    out = []
    for v in values:
        try:
            raw = bytes.fromhex(v.strip())
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise errors.ConfigError("khóa công khai phát hành phải là 64 ký tự hex / "
                                     "a release public key is 64 hex characters", code="BAD_RELEASE_KEY")
        out.append(raw)
    return out


def check_key_roles(release_pubkeys: list[bytes], fleet_pubkey: bytes | None) -> None:
    if not release_pubkeys:
        raise errors.ConfigError("chưa cấu hình khóa công khai phát hành / no release public key "
                                 "configured (GREENGATE_RELEASE_PUBLIC_KEYS)", code="NO_RELEASE_KEYS")
    if fleet_pubkey is not None and fleet_pubkey in release_pubkeys:
        raise errors.ConfigError("khóa điều khiển của hệ thống không được là khóa phát hành / "
                                 "the fleet control key must not be a release key", code="RELEASE_KEY_IS_FLEET_KEY")


def load_dir(path: Path, release_pubkeys: list[bytes]) -> ota_release.Release:
    """A release directory (`release build` output), its signature and payload checked."""
    try:
        return ota_release.Release.load(Path(path), release_pubkeys)
    except ota_release.ReleaseError as e:
        raise errors.BadRequest(f"bản phát hành bị từ chối / release refused: {e}",
                                code="RELEASE_INVALID") from None


def publish(db: Session, rel: ota_release.Release, release_pubkeys: list[bytes],
            fleet_pubkey: bytes | None, actor: str) -> Release:
    """Store a release the gates will accept (signature by a release key,
    payload matching its manifest). Publishing the same release again is a
    no-op; another release with a number already used is refused."""
    check_key_roles(release_pubkeys, fleet_pubkey)
    try:
        info = ota_release.verify_manifest(rel.manifest, release_pubkeys)
        ota_release.check_payload(info, rel.payload)
    except ota_release.ReleaseError as e:
        raise errors.BadRequest(f"bản phát hành bị từ chối / release refused: {e}",
                                code="RELEASE_INVALID") from None
    existing = db.scalar(select(Release).where(Release.number == info["release"]))
    if existing is not None:
        if existing.manifest == rel.manifest:
            return existing
        raise errors.Conflict(f"số bản phát hành {info['release']} đã được dùng / release number "
                              f"{info['release']} is taken", code="RELEASE_EXISTS")
    sha = store_blob(db, "firmware", rel.payload)
    store_blob(db, "manifest", rel.manifest)  # a big manifest travels as a blob (offer.py)
    row = Release(number=info["release"], version=info["version"], target=info["target"],
                  min_previous=info["min_previous"], manifest=rel.manifest, payload_sha256=sha,
                  size=len(rel.payload), files=len(info["files"]),
                  built_at=dt.datetime.fromtimestamp(info["created_at"], dt.timezone.utc),
                  published_by=actor)
    db.add(row)
    db.flush()
    audit.record(db, actor, "release.publish", "release", row.number, version=row.version,
                 target=row.target, sha256=sha, size=row.size, kid=info["kid"])
    return row


def get(db: Session, number: int) -> Release:
    row = db.scalar(select(Release).where(Release.number == number))
    if row is None:
        raise errors.NotFound(f"không có bản phát hành {number} / no release {number}",
                              code="RELEASE_NOT_FOUND")
    return row


def list_releases(db: Session) -> list[Release]:
    return list(db.scalars(select(Release).order_by(Release.number.desc())))


def as_release(db: Session, row: Release) -> ota_release.Release:
    """The library's Release for a stored one (offer bodies are built from it)."""
    blob = db.get(Blob, row.payload_sha256)
    if blob is None or hashlib.sha256(blob.data).hexdigest() != row.payload_sha256:
        raise errors.FleetError(f"release {row.number}: payload missing or damaged",
                                code="RELEASE_PAYLOAD")
    info = ota_release.parse_manifest(row.manifest)
    return ota_release.Release(row.manifest, blob.data, info)


def summary(row: Release) -> dict:
    return {"number": row.number, "version": row.version,
            "target": "image" if row.target == ota_release.TARGET_IMAGE else "bundle",
            "min_previous": row.min_previous, "size": row.size, "files": row.files,
            "sha256": row.payload_sha256, "built_at": row.built_at.isoformat(),
            "published_at": row.published_at.isoformat(), "published_by": row.published_by}
