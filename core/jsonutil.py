"""JSON text in which decimals stay exact: ``Decimal("53.20")`` is written as the number ``53.20``.

The standard encoder only knows floats, which would round or drop places. :func:`dumps` first replaces
decimals by a marker string unique to the call, then swaps the markers for the digits. :func:`dumps_bytes`,
the fast one the HTTP responses use, gives orjson each decimal's digits as an ``orjson.Fragment`` (JSON text
inserted as it is) and falls back to :func:`dumps` for what orjson refuses (integers beyond 64 bits,
non-string keys).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

#: what orjson would write itself but ``json.dumps`` refuses: left to ``default``, as ``json.dumps`` does
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(obj: Any, *, default: Callable[[Any], Any] | None = None, **json_kwargs: Any) -> str:
    """``json.dumps`` with every finite ``Decimal`` as an exact number (non-finite ones as strings).

    ``default`` converts other types, as in ``json.dumps``; what it returns may hold decimals too.
    """
    marker = secrets.token_hex(8)
    numbers: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                return str(value)
            numbers.append(format(value, "f"))
            return f"{marker}{len(numbers) - 1}{marker}"
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [mark(item) for item in value]
        return value

    def fallback(value: Any) -> Any:
        if default is None:
            raise TypeError(f"{type(value).__name__} is not JSON serialisable")
        return mark(default(value))

    text = json.dumps(mark(obj), default=fallback, **json_kwargs)
    for index, number in enumerate(numbers):
        text = text.replace(f'"{marker}{index}{marker}"', number, 1)
    return text


def _fragment(value: Decimal) -> Any:
    if not value.is_finite():
        return str(value)
    return orjson.Fragment(format(value, "f"))


def dumps_bytes(obj: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact UTF-8 JSON (``separators=(",", ":")``, non-ASCII unescaped) with every finite ``Decimal`` as an
    exact number (non-finite ones as strings); the same text as :func:`dumps` with those settings, encoded.

    ``default`` converts other types, as in ``json.dumps``; what it returns may hold decimals too.
    """

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return _fragment(value)
        if default is None:
            raise TypeError(f"{type(value).__name__} is not JSON serialisable")
        return default(value)

    try:
        return orjson.dumps(obj, default=convert, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        # what orjson cannot write (a huge integer, a non-string key, a lone surrogate, ...) or what
        # `default` refused: the standard encoder writes it or raises its own error
        text = dumps(obj, default=default, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")
