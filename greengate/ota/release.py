"""Build and check a signed firmware release (docs/protocol.md, "Firmware
updates").

A release is a manifest signed by a RELEASE key (Ed25519), never by the
fleet's control key: the fleet service only relays releases, so a
compromised fleet service cannot ship firmware on its own. The manifest is a
COSE_Sign1 (tag 18; alg EdDSA and kid = SHA-256(release public key)[:8] in
the protected header) over a CBOR map:

  1 release number (uint, monotonic: the device's anti-rollback floor)
  2 version text ("0.4.0")
  3 min_previous (uint: a device running a lower release number refuses)
  4 target (0 file bundle, 1 firmware image)
  5 created_at (unix seconds)
  6 files [[path, size, sha256]] in payload order (image: one "firmware.bin")
  7 payload {1: sha256, 2: size} of the single payload blob

The payload is one blob: for a bundle the files concatenated in listed
order, for an image the image itself. A bundle holds every firmware module
compiled with mpy-cross (-march=xtensawin for the ESP32) and the data files
(fonts, texts.bin); the slot chooser (slotboot.py) stays outside: it is the
part of the device that rollback relies on, installed over USB only.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from greengate.control.envelope import kid_for, raw_public
from greengate.paths import tool

ALG_EDDSA = -8
TARGET_BUNDLE = 0
TARGET_IMAGE = 1
TARGETS = {"bundle": TARGET_BUNDLE, "image": TARGET_IMAGE}
IMAGE_NAME = "firmware.bin"
MAX_MANIFEST = 64 * 1024  # a big bundle's manifest travels as a blob (offer.py)
MAX_VERSION_TEXT = 32
MAX_PATH = 64
MAX_PAYLOAD = 8 * 1024 * 1024  # the device's blob cap (firmware/control/blob.py)
# outside the bundle: the slot chooser and the unix port's simulated
# bootloader (installed over USB, never by OTA)
NOT_IN_BUNDLE = {"slotboot.py", "otasim.py"}
DATA_SUFFIXES = (".bin",)
MANIFEST_FILE = "manifest.cose"
PAYLOAD_FILE = "payload.bin"
INFO_FILE = "release.json"


class ReleaseError(ValueError):
    """A release that cannot be built, or a manifest that does not check."""


@dataclass(frozen=True)
class Release:
    manifest: bytes  # the signed COSE_Sign1
    payload: bytes   # the single blob the device fetches
    info: dict       # the manifest's fields, readable (release.json)

    @property
    def number(self) -> int:
        return self.info["release"]

    def write(self, out_dir: Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST_FILE).write_bytes(self.manifest)
        (out / PAYLOAD_FILE).write_bytes(self.payload)
        (out / INFO_FILE).write_text(json.dumps(self.info, indent=1) + "\n")
        return out

    @classmethod
    def load(cls, in_dir: Path, release_pubkeys: list[bytes] | None = None) -> "Release":
        """A release written by write(). The payload must match the manifest;
        with release_pubkeys the signature is checked too."""
        d = Path(in_dir)
        try:
            manifest = (d / MANIFEST_FILE).read_bytes()
            payload = (d / PAYLOAD_FILE).read_bytes()
        except OSError as e:
            raise ReleaseError(f"cannot read release in {d}: {e.strerror}") from None
        info = verify_manifest(manifest, release_pubkeys) if release_pubkeys else parse_manifest(manifest)
        check_payload(info, payload)
        return cls(manifest, payload, info)


# -- building -----------------------------------------------------------------
def bundle_files(firmware_dir: Path, march: str = "xtensawin") -> list[tuple[str, bytes]]:
    """(path, bytes) of a file bundle, sorted by path: every firmware .py
    compiled to .mpy, and the data files."""
    root = Path(firmware_dir)
    if not (root / "main.py").is_file():
        raise ReleaseError(f"{root} is not a firmware tree (no main.py)")
    mpy_cross = tool("mpy-cross")
    out: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(root.rglob("*")):
            rel = src.relative_to(root).as_posix()
            if not src.is_file() or "__pycache__" in src.parts or rel in NOT_IN_BUNDLE:
                continue
            if src.suffix == ".py":
                target = Path(tmp) / (rel[:-3] + ".mpy")
                target.parent.mkdir(parents=True, exist_ok=True)
                r = subprocess.run([mpy_cross, f"-march={march}", "-s", rel, "-o", str(target), str(src)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise ReleaseError(f"mpy-cross failed on {rel}: {r.stderr.strip()}")
                out.append((rel[:-3] + ".mpy", target.read_bytes()))
            elif src.suffix in DATA_SUFFIXES:
                out.append((rel, src.read_bytes()))
    out.sort()
    for path, _ in out:
        if len(path) > MAX_PATH:
            raise ReleaseError(f"path longer than {MAX_PATH}: {path}")
    return out


def build_release(firmware_dir: Path, release_number: int, version: str, min_previous: int,
                  target: int, release_key: Ed25519PrivateKey, created_at: int | None = None,
                  march: str = "xtensawin", files: list[tuple[str, bytes]] | None = None) -> Release:
    """A signed release. target 0: firmware_dir is the firmware tree (a file
    bundle, compiled for `march`); target 1: firmware_dir is the image file
    (a MicroPython firmware .bin with the firmware frozen in). `files`
    replaces the tree's files (tests: a bundle with a chosen defect)."""
    if type(release_number) is not int or not 0 < release_number < 2**31:
        raise ReleaseError("release number must be 1..2^31-1")
    if type(min_previous) is not int or not 0 <= min_previous <= release_number:
        raise ReleaseError("min_previous must be 0..release number")
    if not isinstance(version, str) or not 0 < len(version) <= MAX_VERSION_TEXT:
        raise ReleaseError(f"version text must be 1..{MAX_VERSION_TEXT} characters")
    if target == TARGET_BUNDLE:
        if files is None:
            files = bundle_files(Path(firmware_dir), march)
    elif target == TARGET_IMAGE:
        try:
            files = [(IMAGE_NAME, Path(firmware_dir).read_bytes())]
        except OSError as e:
            raise ReleaseError(f"cannot read image {firmware_dir}: {e.strerror}") from None
    else:
        raise ReleaseError("target must be 0 (file bundle) or 1 (firmware image)")
    payload = b"".join(data for _, data in files)
    if not payload or len(payload) > MAX_PAYLOAD:
        raise ReleaseError(f"payload must be 1..{MAX_PAYLOAD} bytes, is {len(payload)}")
    created = int(time.time()) if created_at is None else created_at
    body = {1: release_number, 2: version, 3: min_previous, 4: target, 5: created,
            6: [[path, len(data), hashlib.sha256(data).digest()] for path, data in files],
            7: {1: hashlib.sha256(payload).digest(), 2: len(payload)}}
    manifest = sign_manifest(body, release_key)
    return Release(manifest, payload, _info(body, kid_for(raw_public(release_key))))


def sign_manifest(body: dict, release_key: Ed25519PrivateKey) -> bytes:
    """COSE_Sign1 over the CBOR manifest map (also for tests that need a
    manifest with chosen fields)."""
    payload = cbor2.dumps(body, canonical=True)
    protected = cbor2.dumps({1: ALG_EDDSA, 4: kid_for(raw_public(release_key))}, canonical=True)
    signature = release_key.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    data = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
    if len(data) > MAX_MANIFEST:
        raise ReleaseError(f"manifest is {len(data)} bytes (max {MAX_MANIFEST}): too many files")
    return data


def _info(body: dict, kid: bytes) -> dict:
    return {"release": body[1], "version": body[2], "min_previous": body[3],
            "target": body[4], "created_at": body[5],
            "files": [[p, n, h.hex()] for p, n, h in body[6]],
            "payload_sha256": body[7][1].hex(), "payload_size": body[7][2], "kid": kid.hex()}


# -- checking -----------------------------------------------------------------
def _sign1(data: bytes) -> tuple[bytes, bytes, bytes]:
    try:
        obj = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types on garbage
        raise ReleaseError(f"manifest is not CBOR: {e}") from None
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != 18:
            raise ReleaseError("manifest is not a COSE_Sign1")
        obj = obj.value
    if not (isinstance(obj, (list, tuple)) and len(obj) == 4 and all(isinstance(obj[i], bytes) for i in (0, 2, 3))):
        raise ReleaseError("manifest is not a COSE_Sign1")
    return obj[0], obj[2], obj[3]


def parse_manifest(data: bytes) -> dict:
    """The manifest's fields (info dict) WITHOUT checking the signature."""
    protected, payload, _sig = _sign1(data)
    try:
        hdr = cbor2.loads(protected)
        body = cbor2.loads(payload)
    except Exception as e:
        raise ReleaseError(f"manifest header or payload is not CBOR: {e}") from None
    if not isinstance(hdr, dict) or hdr.get(1) != ALG_EDDSA or not isinstance(hdr.get(4), bytes):
        raise ReleaseError("manifest: protected header must carry alg EdDSA and a kid")
    _check_body(body)
    return _info(body, hdr[4])


def _check_body(b: object) -> None:
    def uint(v):
        return type(v) is int and 0 <= v < 2**31

    if not isinstance(b, dict):
        raise ReleaseError("manifest payload is not a map")
    if not (uint(b.get(1)) and b[1] > 0 and uint(b.get(3)) and uint(b.get(5))):
        raise ReleaseError("manifest: release, min_previous, created_at must be uints")
    if not isinstance(b.get(2), str) or not 0 < len(b[2]) <= MAX_VERSION_TEXT:
        raise ReleaseError("manifest: version text")
    if b.get(4) not in (TARGET_BUNDLE, TARGET_IMAGE):
        raise ReleaseError("manifest: target must be 0 or 1")
    files, pl = b.get(6), b.get(7)
    if not isinstance(files, list) or not files:
        raise ReleaseError("manifest: files")
    total = 0
    for f in files:
        if not (isinstance(f, list) and len(f) == 3 and isinstance(f[0], str) and 0 < len(f[0]) <= MAX_PATH
                and safe_path(f[0]) and uint(f[1]) and isinstance(f[2], bytes) and len(f[2]) == 32):
            raise ReleaseError("manifest: bad file entry")
        total += f[1]
    if not (isinstance(pl, dict) and isinstance(pl.get(1), bytes) and len(pl[1]) == 32
            and uint(pl.get(2)) and pl[2] == total):
        raise ReleaseError("manifest: payload must be {1: sha256, 2: size = sum of file sizes}")


def safe_path(path: str) -> bool:
    """A relative path inside a slot (the device refuses anything else)."""
    return (not path.startswith("/") and "\\" not in path
            and all(part not in ("", ".", "..") for part in path.split("/")))


def verify_manifest(data: bytes, release_pubkeys: list[bytes]) -> dict:
    """The manifest's fields (info dict) once one of the release public keys
    (raw 32 bytes) verifies its signature; ReleaseError otherwise."""
    protected, payload, signature = _sign1(data)
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    for raw in release_pubkeys:
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, tbs)
            break
        except (InvalidSignature, ValueError):
            continue
    else:
        raise ReleaseError("no release key verifies the manifest")
    return parse_manifest(data)


def check_payload(info: dict, payload: bytes) -> None:
    if len(payload) != info["payload_size"] or hashlib.sha256(payload).hexdigest() != info["payload_sha256"]:
        raise ReleaseError("payload does not match the manifest")


def split_payload(info: dict, payload: bytes) -> list[tuple[str, bytes]]:
    """The bundle's (path, bytes), each checked against its SHA-256."""
    check_payload(info, payload)
    out, at = [], 0
    for path, size, sha in info["files"]:
        data = payload[at:at + size]
        if hashlib.sha256(data).hexdigest() != sha:
            raise ReleaseError(f"{path}: hash does not match the manifest")
        out.append((path, data))
        at += size
    return out
