"""Checks on the JSON bodies of the account and subscriber routes: every field is checked for its type and
length, and a key a route does not know is refused, so nothing unchecked reaches a stored document."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping
from datetime import datetime, tzinfo
from typing import Any

from starlette.requests import Request

from core.http import BadRequest, PageRequest, UnsupportedMediaType, read_json_object, read_limited_body
from core.security.passwords import hash_password
from core.security.roles import ROLE_LEVELS, canonical_role
from core.store import ListQuery
from core.store.validation import TENANT_RE
from core.timeutil import local_string

#: a login ID, as ``specgate users add`` takes it too (``core.cli.admin.LOGIN_RE``; a test keeps them equal)
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
LANGUAGES = ("kor", "eng", "chn")
MAX_TEXT = 200
MAX_EMAIL = 254
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def refuse_unknown(body: Mapping[str, Any], allowed: Collection[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field {', '.join(unknown)}; the fields are {', '.join(sorted(allowed))}")


def printable(value: str) -> bool:
    return not any(ord(char) < 32 or ord(char) == 127 for char in value)


def text_field(body: Mapping[str, Any], key: str, *, required: bool = False, max_length: int = MAX_TEXT) -> str | None:
    """``body[key]`` as printable text of at most ``max_length`` characters (not blank when ``required``);
    None when absent and not required."""
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key} is required")
        return None
    if (
        not isinstance(value, str)
        or len(value) > max_length
        or not printable(value)
        or (required and not value.strip())
    ):
        raise BadRequest(f"{key} must be a string of {1 if required else 0} to {max_length} printable characters")
    return value


def login_id(value: object, key: str = "ID") -> str:
    if not isinstance(value, str) or not LOGIN_RE.fullmatch(value):
        raise BadRequest(f"{key} must be 1 to 64 letters, digits or . _ @ -")
    return value


def is_login_id(value: str) -> bool:
    return LOGIN_RE.fullmatch(value) is not None


def email_field(body: Mapping[str, Any], key: str = "email", required: bool = True) -> str | None:
    value = text_field(body, key, required=required, max_length=MAX_EMAIL)
    if value is not None and not _EMAIL_RE.fullmatch(value):
        raise BadRequest(f"{key} must be an e-mail address like name@example.com")
    return value


def lang_field(value: object) -> str:
    if value not in LANGUAGES:
        raise BadRequest(f"lang must be one of {', '.join(LANGUAGES)}")
    assert isinstance(value, str)
    return value


def tenant_field(value: object, key: str = "tenant") -> str:
    if not isinstance(value, str) or not TENANT_RE.fullmatch(value):
        raise BadRequest(f"{key} must be 1 to 63 letters, digits or _")
    return value


def role_field(value: object) -> str:
    role = canonical_role(value)
    if role is None:
        raise BadRequest(f"role must be one of {', '.join(ROLE_LEVELS)}")
    return role


def bool_field(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


async def optional_json_object(request: Request) -> dict[str, Any]:
    """The JSON object body of a route whose body may be left out (sent with no content type and empty)."""
    if "content-type" not in request.headers:
        if await read_limited_body(request):
            raise UnsupportedMediaType("the body must be sent as application/json")
        return {}
    return await read_json_object(request)


def list_query(page: PageRequest, **conditions: Any) -> ListQuery:
    """The store query of a listing request: its page, sort and search, with ``conditions`` (filters, any_of)."""
    return ListQuery(
        sort=page.sort,
        descending=page.descending,
        limit=page.limit,
        offset=page.offset,
        search=page.search,
        **conditions,
    )


def user_code(now: float, tz: tzinfo) -> str:
    """The original's user code: ``U`` + ``%y%m%d%H%M%S`` (local) + two random digits from 10 to 99."""
    return "U" + datetime.fromtimestamp(now, tz).strftime("%y%m%d%H%M%S") + str(10 + secrets.randbelow(90))


def new_user(
    login: str,
    *,
    name: str,
    email: str,
    role: str,
    lang: str,
    now: float,
    tz: tzinfo,
    password: str | None = None,
    passwd: str | None = None,
) -> dict[str, Any]:
    """A user document in the original layout, enabled, with ``password`` hashed (or the hash ``passwd``)."""
    encoded = passwd if passwd is not None else hash_password(password or "")
    return {
        "ID": login,
        "code": user_code(now, tz),
        "passwd": encoded,
        "name": name,
        "email": email,
        "role": role,
        "level": ROLE_LEVELS[role],
        "lang": lang,
        "flag": True,
        "regdate": local_string(now, tz),
    }
