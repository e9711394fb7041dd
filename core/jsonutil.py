"""JSON text in which decimals stay exact: ``Decimal("53.20")`` is written as the number ``53.20``.

The standard encoder only knows floats, which would round or drop places. Decimals are first replaced by
a marker string unique to the call, then the markers are swapped for the digits.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any


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
