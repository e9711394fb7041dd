"""What every HTTP route shares, core's and the plugins': the JSON response, the one error shape, bounded
request bodies.

Every error answered by the API has one shape: ``{"ok": false, "error": "<code>", "message": "<sentence>"}``.
The request errors below carry their status and code; a route may catch them, and the web app answers any
that escape a route (``web/app.py``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core import jsonutil

#: request bodies larger than this are refused with 413 unless a route sets its own limit
DEFAULT_BODY_LIMIT = 16 * 1024
#: JSON bodies nested deeper than this (arrays and objects) are refused with 400 before they are parsed
MAX_JSON_DEPTH = 32


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(data: Any) -> str:
    """Compact JSON text; a ``Decimal`` is written as an exact JSON number (``53.20`` stays ``53.20``)."""
    return dumps_bytes(data).decode("utf-8")


def dumps_bytes(data: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes (orjson's, without the round trip through ``str``)."""
    return jsonutil.dumps_bytes(data, default=_json_default)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps_bytes(content)


def error_response(status: int, error: str, message: str) -> JSONResponse:
    """The one error shape of the API."""
    return JSONResponse({"ok": False, "error": error, "message": message}, status_code=status)


class RequestError(Exception):
    """A request the API refuses; answered ``status`` with the error ``code`` and the exception's message."""

    status = 400
    code = "invalid_request"


class BodyTooLarge(RequestError):
    """A request body over the route's limit; answered 413 before the rest is read."""

    status = 413
    code = "too_large"


class BadRequest(RequestError):
    """A request the API refuses with 400; the message names the bad field."""


class UnsupportedMediaType(RequestError):
    """A body that is not ``application/json`` sent to a JSON route; answered 415."""

    status = 415
    code = "unsupported_media_type"


def check_json_media_type(request: Request) -> None:
    """Refuse (``UnsupportedMediaType``) a body not sent as ``application/json`` (``charset=utf-8`` allowed):
    a cross-site HTML form can only send ``text/plain`` and form types, so this also keeps it out."""
    declared = request.headers.get("content-type", "")
    media_type, _, params = declared.partition(";")
    charset = params.replace(" ", "").replace('"', "").lower()
    if media_type.strip().lower() != "application/json" or charset not in ("", "charset=utf-8"):
        raise UnsupportedMediaType(f"the body must be sent as application/json, got {declared or 'no content type'!r}")


def _nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the arrays and objects of the JSON text ``raw`` nest deeper than ``limit`` (brackets inside
    strings do not count), found without parsing: ``json`` recurses once per level."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


async def read_limited_body(request: Request, limit: int = DEFAULT_BODY_LIMIT) -> bytes:
    """The request body, refusing (``BodyTooLarge``) as soon as it is known to exceed ``limit`` bytes, so a
    huge upload is never held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body must be at most {limit} bytes, got {declared}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body must be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int = DEFAULT_BODY_LIMIT) -> dict[str, Any]:
    """The body as a JSON object: ``UnsupportedMediaType`` unless sent as ``application/json``,
    ``BodyTooLarge`` past ``limit``, ``BadRequest`` when it is not an object or nests deeper than
    ``MAX_JSON_DEPTH``."""
    check_json_media_type(request)
    raw = await read_limited_body(request, limit)
    if _nested_deeper_than(raw, MAX_JSON_DEPTH):
        raise BadRequest(f"the body must be a JSON object nested at most {MAX_JSON_DEPTH} levels deep")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


# --------------------------------------------------------------------------- query strings and paged listings

#: largest page a listing serves
MAX_PAGE = 1000


def query_str(request: Request, name: str, max_length: int = 200) -> str | None:
    """A query parameter as text (None when absent); ``BadRequest`` when longer than ``max_length``."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if len(value) > max_length or "\x00" in value:
        raise BadRequest(f"query parameter {name} must be at most {max_length} characters")
    return value


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = query_str(request, name, 20)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"query parameter {name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"query parameter {name} must be between {low} and {high}, got {value}")
    return value


def query_time(request: Request, name: str, tz: Any) -> float | None:
    """A time given as epoch seconds or ISO 8601 (a date or date-time; without an offset it is in ``tz``)."""
    from datetime import datetime

    text = query_str(request, name, 40)
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"query parameter {name} must be epoch seconds or ISO 8601, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def query_bool(request: Request, name: str) -> bool | None:
    text = query_str(request, name, 10)
    if text is None:
        return None
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"query parameter {name} must be true or false, got {text!r}")


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> int:
    if not text:
        return 0
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        if raw[:1] != "o" or not raw[1:].isdigit():
            raise ValueError
        return int(raw[1:])
    except ValueError:
        raise BadRequest("query parameter cursor is not one this server issued") from None


@dataclass(frozen=True)
class PageRequest:
    """``limit``, ``cursor`` (an opaque offset), ``sort`` (``field`` or ``-field``) and ``q`` (search) of a
    listing request."""

    limit: int
    offset: int
    sort: str | None
    descending: bool
    search: str | None

    @classmethod
    def from_request(cls, request: Request, default_limit: int = 100) -> PageRequest:
        sort = query_str(request, "sort", 64)
        descending = bool(sort and sort.startswith("-"))
        return cls(
            limit=query_int(request, "limit", default_limit, 1, MAX_PAGE),
            offset=decode_cursor(query_str(request, "cursor", 64)),
            sort=sort.lstrip("-") if sort else None,
            descending=descending,
            search=query_str(request, "q", 100) or None,
        )


def paged_response(items: list[Any], offset: int, limit: int, total: int, **extra: Any) -> JSONResponse:
    """The one listing shape: ``{"ok": true, "items": [...], "next": CURSOR_OR_NULL, "total": N}``."""
    following = offset + len(items)
    next_cursor = encode_cursor(following) if items and len(items) == limit and following < total else None
    return JSONResponse({"ok": True, "items": items, "next": next_cursor, "total": total, **extra})
