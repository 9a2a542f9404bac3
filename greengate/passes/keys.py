"""Issuer keys (Ed25519) and the trust list that verifiers load.

- `issuer.key`: the private key, PEM PKCS#8, file mode 0600, never leaves the issuer.
- `trust.json`: a JSON list of entries
  `{"issuer": str, "kid": hex (8 bytes), "public_key": base64url or hex of the
  raw 32-byte key, "not_after"?: ISO-8601 time or unix seconds}`.
  The kid written by keygen is SHA-256(raw public key)[:8]; a kid given in the
  file is used as-is (it is what the issuer puts in its passes).
- The device's compact form (`device_trust_bytes`) is a CBOR array of
  `[kid, public_key, issuer, not_after (0 = none)]` (firmware/verify/trust.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ISSUER_KEY_FILE = "issuer.key"
TRUST_FILE = "trust.json"
ISSUER_MAX = 32


class TrustFileError(ValueError):
    """trust.json (or a key file) is unreadable or malformed."""


def kid_for(public_key_raw: bytes) -> bytes:
    return hashlib.sha256(public_key_raw).digest()[:8]


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class TrustEntry:
    issuer: str
    kid: bytes
    public_key: bytes  # raw 32 bytes
    not_after: int | None = None  # unix seconds; the key is not used after it

    def to_json(self) -> dict:
        out = {
            "issuer": self.issuer,
            "kid": self.kid.hex(),
            "public_key": base64.urlsafe_b64encode(self.public_key).rstrip(b"=").decode(),
        }
        if self.not_after is not None:
            out["not_after"] = datetime.fromtimestamp(self.not_after, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        return out


def _decode_public_key(text: object) -> bytes:
    if not isinstance(text, str):
        raise TrustFileError("public_key must be a string")
    raw = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise TrustFileError("public_key is neither hex nor base64url") from None
    if len(raw) != 32:
        raise TrustFileError("public_key must be 32 raw bytes")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise TrustFileError("public_key is not an Ed25519 key") from None
    return raw


def parse_time(value: object) -> int:
    """Unix seconds from an int or an ISO-8601 string (naive = UTC)."""
    if type(value) is int:
        return value
    if not isinstance(value, str):
        raise ValueError("expected unix seconds or an ISO-8601 time")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def parse_trust(data: object) -> list[TrustEntry]:
    if not isinstance(data, list):
        raise TrustFileError("trust file must be a JSON list of keys")
    entries = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise TrustFileError(f"entry {i}: not an object")
        issuer = item.get("issuer")
        if not isinstance(issuer, str) or not 1 <= len(issuer) <= ISSUER_MAX:
            raise TrustFileError(f"entry {i}: issuer must be text of 1..{ISSUER_MAX} characters")
        try:
            pub = _decode_public_key(item.get("public_key"))
        except TrustFileError as e:
            raise TrustFileError(f"entry {i}: {e}") from None
        kid_hex = item.get("kid")
        if kid_hex is None:
            kid = kid_for(pub)
        else:
            try:
                kid = bytes.fromhex(kid_hex) if isinstance(kid_hex, str) else b""
            except ValueError:
                kid = b""
            if not 1 <= len(kid) <= 16:
                raise TrustFileError(f"entry {i}: kid must be 1..16 bytes of hex")
        not_after = None
        if item.get("not_after") is not None:
            try:
                not_after = parse_time(item["not_after"])
            except ValueError as e:
                raise TrustFileError(f"entry {i}: not_after: {e}") from None
        entries.append(TrustEntry(issuer, kid, pub, not_after))
    return entries


def load_trust(path: Path) -> list[TrustEntry]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise TrustFileError(f"cannot read {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TrustFileError(f"{path} is not JSON: {e}") from None
    return parse_trust(data)


def save_trust(path: Path, entries: list[TrustEntry]) -> None:
    Path(path).write_text(
        json.dumps([e.to_json() for e in entries], indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


def device_trust_bytes(entries: list[TrustEntry]) -> bytes:
    """The compact trust file the firmware's TrustStore.load() reads."""
    return cbor2.dumps(
        [[e.kid, e.public_key, e.issuer, e.not_after or 0] for e in entries]
    )


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created 0600 from the start: never world-readable, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as e:
        raise TrustFileError(f"cannot read {path}: {e.strerror}") from None
    except (ValueError, TypeError) as e:
        raise TrustFileError(f"{path} is not a PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise TrustFileError(f"{path} is not an Ed25519 key")
    return key


def keygen(out_dir: Path, issuer: str, not_after: int | None = None, force: bool = False) -> TrustEntry:
    """Write out_dir/issuer.key and add the public key to out_dir/trust.json.

    An existing trust.json keeps its entries (key rotation: old passes stay valid
    while the new key signs); an existing issuer.key is only replaced with force.
    """
    if not 1 <= len(issuer) <= ISSUER_MAX:
        raise ValueError(f"issuer must be 1..{ISSUER_MAX} characters")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, trust_path = out_dir / ISSUER_KEY_FILE, out_dir / TRUST_FILE
    if key_path.exists() and not force:
        raise FileExistsError(f"{key_path} exists (use --force to replace it)")
    existing = load_trust(trust_path) if trust_path.exists() else []
    key = generate()
    pub = raw_public(key)
    entry = TrustEntry(issuer, kid_for(pub), pub, not_after)
    save_private_key(key_path, key)
    save_trust(trust_path, existing + [entry])
    return entry
