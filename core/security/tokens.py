"""Bearer secrets: login-session tokens and API tokens.

A token is 32 random bytes, URL-safe base64. The store keeps only its SHA-256 (a token carries 256 bits of
entropy, so a fast hash is enough: nobody can guess one from its hash). API tokens start with
``API_TOKEN_PREFIX`` so a request's token is looked up in one place only.
"""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "sgt_"
#: longer values are refused before hashing (a header or cookie of any size must not cost anything)
MAX_TOKEN_LENGTH = 200


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> tuple[str, str]:
    """``(token_id, token)``: a short public id to list and revoke it by, and the secret itself."""
    return secrets.token_hex(6), API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def plausible_token(token: object) -> bool:
    """Cheap shape check before any store lookup."""
    return isinstance(token, str) and 16 <= len(token) <= MAX_TOKEN_LENGTH and token.isascii() and token.isprintable()
