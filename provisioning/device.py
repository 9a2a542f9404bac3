"""Typed operations on a device in SETUP (the provisioning commands)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import DeviceRefused, TransferError
from provisioning.link import Link

HELLO, KEY, SIGN = 0x01, 0x02, 0x03
PUT, HASH, COMMIT, RELEASE = 0x10, 0x11, 0x12, 0x13
PROTOCOL_LOCKED = 2  # HELLO protocol from which the console is locked once provisioned
PURPOSE_REGISTER = 1  # SIGN: the one statement the device key signs (fleet/services/provision.py)
CONFIG, REBOOT = 0x20, 0x30
COMMIT_LIST = "commit.json"  # firmware/setup/commands.py
CHUNK = 512  # bytes of file data per PUT frame (well under MAX_PAYLOAD)


@dataclass
class DeviceInfo:
    protocol: int
    chip_id: str
    device_id: str | None
    firmware: str | None
    provisioned: bool
    public_key: bytes | None
    platform: str
    fleet_keys: list[bytes]  # the fleet keys a provisioned device trusts (protocol 2)


@dataclass
class FirmwareFile:
    path: str  # path on the device, e.g. "crypto/ed25519.mpy"
    data: bytes

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


def hello(link: Link, wait: float = 10.0) -> DeviceInfo:
    """Who the device is; waits up to `wait` s for it to start answering."""
    a = link.connect(wait) if not link.heard_from_device else link.request(HELLO)
    return DeviceInfo(protocol=a.get(1, 0), chip_id=a.get(2, ""), device_id=a.get(3),
                      firmware=a.get(4), provisioned=bool(a.get(5)), public_key=a.get(6),
                      platform=a.get(7, "?"), fleet_keys=list(a.get(8) or ()))


def ensure_key(link: Link, rekey: bool = False) -> tuple[bytes, bool]:
    """The device's public key, making the key pair on the device if needed."""
    a = link.request(KEY, {1: rekey}, timeout=30.0)  # key generation is slow on an ESP32
    return a[1], bool(a.get(2))


def sign_challenge(link: Link, challenge: bytes, fleet_key: bytes) -> bytes:
    """The device's signature of its registration statement for this fleet's
    challenge (the device builds the statement; it signs nothing else)."""
    return link.request(SIGN, {1: challenge, 2: PURPOSE_REGISTER, 3: fleet_key}, timeout=30.0)[1]


def remote_hash(link: Link, path: str, staged: bool = False) -> bytes | None:
    return link.request(HASH, {1: path, 2: staged}, timeout=10.0).get(1)


def changed_files(link: Link, files: Sequence[FirmwareFile], remove: Sequence[str] = ()
                  ) -> tuple[list[FirmwareFile], list[str]]:
    """The files whose copy on the device differs, and those of `remove` it has."""
    return ([f for f in files if remote_hash(link, f.path) != f.sha256],
            [p for p in remove if remote_hash(link, p) is not None])


def deploy(link: Link, files: Sequence[FirmwareFile], remove: Sequence[str] = (),
           progress: Callable[[int], None] | None = None, verify_retries: int = 2,
           release: tuple[bytes, bytes] | None = None) -> list[str]:
    """Upload what changed, check every file's SHA-256 on the device, then
    switch all of them in place at once (COMMIT). Returns the paths sent.
    `release`: (signed release, its listing), for a provisioned device: the
    release goes first (the device refuses any file without it) and the
    listing, which names every file, is what COMMIT installs."""
    changed, present = changed_files(link, files, remove)
    if not changed and not present:
        return []
    if release is not None:
        link.request(RELEASE, {1: release[0]}, timeout=30.0)
    for f in changed:
        for attempt in range(verify_retries + 1):
            for off in range(0, max(len(f.data), 1), CHUNK):
                part = f.data[off : off + CHUNK]
                link.request(PUT, {1: f.path, 2: off, 3: part, 4: len(f.data)}, timeout=5.0)
                if progress:
                    progress(len(part))
            if remote_hash(link, f.path, staged=True) == f.sha256:
                break
            if attempt == verify_retries:
                raise TransferError(f"{f.path}: hash mismatch after {attempt + 1} uploads / "
                                    f"{f.path}: sai mã băm sau {attempt + 1} lần tải")
    if release is not None:
        listing = release[1]
    else:
        listing = json.dumps({"files": [[f.path, f.sha256.hex()] for f in changed],
                              "remove": present}).encode()
    _commit(link, listing)
    return [f.path for f in changed]


def _commit(link: Link, listing: bytes) -> None:
    """One COMMIT switches every file: the manifest goes up as the staged
    file commit.json (a whole firmware's list does not fit one frame) and the
    COMMIT names its SHA-256; the device checks it and every file again."""
    for off in range(0, max(len(listing), 1), CHUNK):
        link.request(PUT, {1: COMMIT_LIST, 2: off, 3: listing[off : off + CHUNK],
                           4: len(listing)}, timeout=5.0)
    try:
        link.request(COMMIT, {3: hashlib.sha256(listing).digest()}, timeout=60.0)
    except DeviceRefused as e:
        if e.code == "hash":
            raise TransferError(f"device found a corrupted file at commit: {e} / "
                                f"thiết bị phát hiện tệp bị lỗi khi cài") from e
        raise


def write_config(link: Link, bundle: bytes, wifi_ssid: str | None = None,
                 wifi_password: str | None = None) -> None:
    extra = {}
    if wifi_ssid is not None:
        extra = {1: wifi_ssid, 2: wifi_password or ""}
    link.request(CONFIG, {1: bundle, 2: extra}, timeout=30.0)


def reboot(link: Link) -> None:
    link.request(REBOOT)


def firmware_files(root: Path, compiled: dict[str, bytes] | None = None) -> list[FirmwareFile]:
    """The firmware tree as device files; `compiled` maps .py paths to .mpy bytes."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_dir() or "__pycache__" in p.parts:
            continue
        rel = p.relative_to(root).as_posix()
        if compiled and rel in compiled:
            out.append(FirmwareFile(rel[:-3] + ".mpy", compiled[rel]))
        else:
            out.append(FirmwareFile(rel, p.read_bytes()))
    return out
