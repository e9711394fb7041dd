"""Reading the original clients' request bodies: the JSON body itself, and typed values out of it.

The original clients send JSON with or without ``Content-Type: application/json`` and with
``"format": "json"``; neither is required here (the answer is always JSON). A value of the wrong type is
refused with application code 400 and a sentence naming the field, never passed on to the store.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from core.errors import InvalidInput
from core.http import MAX_JSON_DEPTH, read_limited_body
from core.store.validation import check_field_name
from web.compat.envelope import Refused, bad_request

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: the keys every original client adds to a body: who it claims to be, never what to do
ENVELOPE_KEYS = frozenset(
    {
        "format",
        "login_id",
        "userseq",
        "session_token",
        "db_name",
        "user_id",
        "role",
        "level",
        "page",
        "action",
        "server",
    }
)


async def read_body(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; ``Refused`` with the original ``{"code": 400, "message": "Invalid JSON"}``
    (sent with HTTP 400, as the original did) when it is not one, 413 when it is over ``limit`` bytes."""
    raw = await read_limited_body(request, limit)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refused({"code": 400, "message": "Invalid JSON"}) from None
    if not isinstance(body, dict) or _depth(body) > MAX_JSON_DEPTH:
        raise Refused({"code": 400, "message": "Invalid JSON"})
    return body


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value``, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def text(source: dict[str, Any], name: str, *, required: bool = False, max_length: int = 256) -> str | None:
    """A string field (None when absent, null or empty); a number is taken as its digits."""
    value = source.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > max_length or "\x00" in value:
        raise bad_request(f"{name} must be at most {max_length} characters")
    return value


def identifier(source: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A key such as a device UID or a customer number: a string, never an operator object."""
    value = text(source, name, required=required)
    if value is not None and value.startswith("$"):
        raise bad_request(f"{name} may not start with '$'")
    return value


def integer(value: Any, name: str, low: int = INT32_MIN, high: int = INT32_MAX) -> int:
    """An integer field, also given as its digits (``"2543"``) as the original clients send them."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def positive_int(source: dict[str, Any], name: str, default: int, high: int) -> int:
    """A paging number; anything that is not an integer (the v2 ``page`` routing name) is ``default``."""
    value = source.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return default
    try:
        number = int(value)
    except ValueError:
        return default
    return min(max(number, 1), high)


def field_names(source: dict[str, Any], name: str = "fields") -> list[str]:
    """The ``fields`` list of a listing (empty: every field)."""
    value = source.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 200:
        raise bad_request(f"{name} must be a list of at most 200 field names")
    try:
        return [check_field_name(item) for item in value]
    except InvalidInput as exc:
        raise bad_request(f"{name}: {exc}") from None


def object_of(source: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = source.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"{name} must be an object")
    return value


def equality_filter(source: dict[str, Any], allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """The body's ``filter`` as plain equality on scalar values. An operator (``$where``, ``$regex``,
    ``{"$ne": null}``, ...) or a nested value is refused; ``allowed`` (when given) names the fields a
    filter may use."""
    given = object_of(source, "filter") or {}
    filters: dict[str, Any] = {}
    for key, value in given.items():
        if not isinstance(key, str) or key.startswith("$"):
            raise bad_request(f"filter may not use the operator {key!r}: only field equality is supported")
        try:
            check_field_name(key)
        except InvalidInput as exc:
            raise bad_request(f"filter: {exc}") from None
        if isinstance(value, (dict, list)):
            raise bad_request(f"filter {key}: only equality with a string, number, bool or null is supported")
        if isinstance(value, str) and value.startswith("$"):
            raise bad_request(f"filter {key}: a value may not start with '$'")
        if allowed is not None and key not in allowed:
            raise bad_request(f"cannot filter on {key!r}; allowed: {', '.join(sorted(allowed))}")
        filters[key] = value
    return filters
