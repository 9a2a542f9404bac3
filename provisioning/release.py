"""Fleet-signed firmware releases: what a provisioned (locked) gate needs
before SETUP installs any file (docs/provisioning.md, "Locked console").

A release is a control message of kind 6 (FIRMWARE, fleet scope) signed with
the fleet key; its version is the release number (the device refuses an
older or the same one) and its body holds the SHA-256 of the release
listing: the exact `commit.json` bytes the tool stages, which name every
file of the firmware tree with its SHA-256, and the files to remove. The
operator signs it once per firmware build (`greengate provision release`);
the technician hands it to `provision run --release`. The device checks it
(firmware/setup/release.py); the tool checks first that it matches the files
it is about to send, so a wrong release fails before anything is uploaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import envelope
from provisioning import build
from provisioning.device import FirmwareFile
from provisioning.errors import ProvisionError

VALIDITY_S = 5 * 365 * 86400  # the device has no trusted clock in SETUP: version rules


def firmware_for(platform: str, root: Path) -> tuple[list[FirmwareFile], list[str]]:
    """The files a device of `platform` gets, and the stale ones to remove."""
    if platform == "esp32":
        files = build.compile_firmware(root)
        # a module ships as .mpy: a left-over .py of the same name only wastes flash
        return files, [f.path[:-4] + ".py" for f in files if f.path.endswith(".mpy")]
    return build.source_firmware(root), []


def listing(files: list[FirmwareFile], remove: list[str]) -> bytes:
    """The release listing, canonical bytes (the device's staged commit.json)."""
    doc = {"files": [[f.path, f.sha256.hex()] for f in sorted(files, key=lambda f: f.path)],
           "remove": sorted(remove)}
    return json.dumps(doc, separators=(",", ":")).encode()


def sign(files: list[FirmwareFile], remove: list[str], fleet_key: Ed25519PrivateKey,
         version: int, label: str = "", now: int | None = None) -> bytes:
    if not 0 < version < 2**63:
        raise ProvisionError("the release version must be a positive number / "
                             "số phiên bản phải là số dương", code="RELEASE_VERSION")
    now = int(time.time() if now is None else now)
    body = {1: hashlib.sha256(listing(files, remove)).digest(), 2: label[:32]}
    return envelope.sign_message(envelope.KIND_FIRMWARE, version, body, envelope.fleet_scope(),
                                 fleet_key, now, now + VALIDITY_S)


def signed_digest(release: bytes) -> tuple[int, bytes]:
    """(version, listing SHA-256) named by a release, read without verifying
    it (the device verifies); ProvisionError if it is not a release."""
    try:
        obj = cbor2.loads(release)
        sign1 = obj.value if isinstance(obj, cbor2.CBORTag) else obj
        payload = cbor2.loads(sign1[2])
        if payload[1] != envelope.KIND_FIRMWARE:
            raise ValueError("kind")
        digest = payload[6][1]
        if not (isinstance(digest, bytes) and len(digest) == 32):
            raise ValueError("digest")
        return int(payload[2]), digest
    except (ValueError, TypeError, KeyError, IndexError, cbor2.CBORDecodeError):
        raise ProvisionError("this file is not a signed firmware release / "
                             "tệp này không phải bản phát hành phần mềm đã ký",
                             code="RELEASE_INVALID") from None


def check_matches(release: bytes, files: list[FirmwareFile], remove: list[str]) -> bytes:
    """The listing to stage, if the release signs exactly these files."""
    data = listing(files, remove)
    version, digest = signed_digest(release)
    if hashlib.sha256(data).digest() != digest:
        raise ProvisionError(f"release {version} was signed for other firmware files than these: "
                             f"use the release made for this build / bản phát hành {version} "
                             f"được ký cho phần mềm khác", code="RELEASE_MISMATCH")
    return data
