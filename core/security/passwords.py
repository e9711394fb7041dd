"""Salted, slow password hashes with ``hashlib.scrypt``.

An encoded hash carries its parameters, so they can be raised later without invalidating stored hashes:
``scrypt$16384$8$1$<salt, base64>$<hash, base64>``.

A database taken over from the original system holds unsalted SHA-256 hashes (64 lowercase hex digits).
:func:`verify_password` accepts them, and :func:`needs_rehash` is true for them, so the login that proves
the password replaces the hash with a salted one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
#: refuse absurd parameters in a stored hash (memory use is 128 * n * r bytes)
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=128 * n * r + 2**20)


def hash_password(password: str) -> str:
    """A new salted hash of ``password`` (a random 16-byte salt each call)."""
    if not isinstance(password, str) or not password:
        raise ValueError("a password must be a non-empty string")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, N, R, P, KEY_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a wrong password or a malformed hash.

    The comparison takes the same time wherever the first difference is.
    """
    if not isinstance(password, str) or not isinstance(encoded, str):
        return False
    if is_legacy_hash(encoded):
        actual_hex = hashlib.sha256(password.encode("utf-8")).hexdigest()
        return hmac.compare_digest(actual_hex, encoded.lower())
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P) or not expected:
        return False
    try:
        actual = _derive(password, salt, n, r, p, len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str) -> bool:
    """True when ``encoded`` was made with other parameters than today's."""
    return not encoded.startswith(f"{SCHEME}${N}${R}${P}$")


def is_legacy_hash(encoded: str) -> bool:
    """True for the original system's unsalted SHA-256 hex digest."""
    return len(encoded) == 64 and all(c in "0123456789abcdefABCDEF" for c in encoded)
