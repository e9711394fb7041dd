"""What every HTTP route shares, core's and the plugins': the JSON response, the one error shape, bounded
request bodies.

Every error answered by the API has one shape: ``{"ok": false, "error": "<code>", "message": "<sentence>"}``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core import jsonutil

#: request bodies larger than this are refused with 413 unless a route sets its own limit
DEFAULT_BODY_LIMIT = 16 * 1024


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(data: Any) -> str:
    """Compact JSON text; a ``Decimal`` is written as an exact JSON number (``53.20`` stays ``53.20``)."""
    return jsonutil.dumps(data, default=_json_default, ensure_ascii=False, separators=(",", ":"))


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def error_response(status: int, error: str, message: str) -> JSONResponse:
    """The one error shape of the API."""
    return JSONResponse({"ok": False, "error": error, "message": message}, status_code=status)


class BodyTooLarge(Exception):
    """A request body over the route's limit; answered 413 before the rest is read."""


class BadRequest(Exception):
    """A request the API refuses with 400; the message names the bad field."""


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
    """The body as a JSON object: ``BadRequest`` when it is not one, ``BodyTooLarge`` past ``limit``."""
    raw = await read_limited_body(request, limit)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
