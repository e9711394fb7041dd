"""The original clients' envelope: ``{"code": 200, "data": ..., "total_records": n}`` answers, the
application codes, and values shown the way the original server showed them.

The HTTP status follows the application code as the original server derived it: code 403 is sent with
HTTP 403, code 404 with HTTP 404, every other code (application errors included) with HTTP 200. A handler
refuses a request by raising :class:`Refused` with the answer to send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from core.http import JSONResponse

Reply = dict[str, Any]

#: the original's answer to a request without a valid session, whatever was wrong with it
UNAUTHORIZED: Reply = {"code": 403, "message": "Unauthorized"}
#: the caller is logged in, but its role may not do this
PERMISSION_DENIED: Reply = {"code": 403, "message": "Permission denied"}
NOT_FOUND: Reply = {"code": 404, "message": "Not found"}
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


class Refused(Exception):
    """A request answered with ``reply`` instead of what its handler would have returned."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.get("message") or reply.get("description"))
        self.reply = reply


def failure(code: int, message: str) -> Refused:
    """A refusal in the shape most original handlers used: ``{"code": CODE, "message": TEXT}``."""
    return Refused({"code": code, "message": message})


def bad_request(message: str) -> Refused:
    return failure(400, message)


def unsupported_action(action: object) -> Refused:
    """The original v3 answer to an action a script does not have (its text kept: clients show it)."""
    return failure(400, f"지원하지 않는 액션: {action}")


def http_status(reply: Mapping[str, Any]) -> int:
    code = reply.get("code")
    return code if code in (403, 404) else 200


def respond(reply: Mapping[str, Any], status: int | None = None) -> JSONResponse:
    return JSONResponse(dict(reply), status_code=http_status(reply) if status is None else status)


# --------------------------------------------------------------------------- values as the original showed them


def local_time(value: datetime, tz: tzinfo) -> str:
    """A stored date as ``YYYY-MM-DD HH:MM:SS`` in ``tz`` (a date without a zone is UTC, as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).strftime(LOCAL_FORMAT)


def shown(value: Any, tz: tzinfo) -> Any:
    """``value`` as a client reads it: dates as local strings, bytes as UTF-8 text or else lowercase hex,
    at any depth."""
    if isinstance(value, datetime):
        return local_time(value, tz)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex()
    if isinstance(value, Mapping):
        return {key: shown(item, tz) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [shown(item, tz) for item in value]
    return value


def row(document: Mapping[str, Any], fields: Sequence[str], tz: tzinfo, hidden: frozenset[str] = frozenset()) -> Reply:
    """One listed document: every field when ``fields`` is empty, else exactly ``fields`` in that order
    (null when the document lacks one); never a ``hidden`` field."""
    if fields:
        return {name: shown(document.get(name), tz) for name in fields if name not in hidden}
    return {name: shown(value, tz) for name, value in document.items() if name not in hidden}


def listing(items: list[Reply], total: int | None = None, **extra: Any) -> Reply:
    """The listing answer: ``{"code": 200, "data": [...], "total_records": n, ...}``."""
    return {"code": 200, "data": items, "total_records": len(items) if total is None else total, **extra}
