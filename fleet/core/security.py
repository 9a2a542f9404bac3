"""Passwords (Argon2id via argon2-cffi), opaque session tokens, CSRF tokens.

Session tokens are random; only their SHA-256 is stored, so a database leak
does not hand out live sessions. The CSRF token is an HMAC of the session
token with the service secret: cookie-authenticated unsafe requests must echo
it in `X-CSRF-Token` (or the `csrf_token` form field).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # RFC 9106 second recommended profile: 64 MiB, t=3


def configure_hasher(time_cost: int, memory_kib: int) -> None:
    """Set Argon2id cost (settings.argon2_*). New hashes use it; old hashes keep
    verifying because the parameters are stored inside each hash."""
    global _hasher
    if (_hasher.time_cost, _hasher.memory_cost) != (time_cost, memory_kib):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _dummy.clear()


_dummy: list[str] = []


def dummy_hash() -> str:
    """A hash with the current cost, verified for unknown usernames so that
    login timing does not tell which usernames exist."""
    if not _dummy:
        _dummy.append(_hasher.hash(new_token()))
    return _dummy[0]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(secret_key: str, session_token: str) -> str:
    return hmac.new(secret_key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret_key: str, session_token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(secret_key, session_token), presented)
