"""The functions and operator helpers of the spec language's expressions (see ``core.spec.expr``).

Each is also what the generated code calls (``HELPERS``), so an expression computes the same value in the
construct structs and in the generated fast paths.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

_MAX_EXPONENT = 256
_MAX_SHIFT = 4096
_MAX_REPEAT = 65536


class ExprError(Exception):
    """An expression failed while it was evaluated (the caller turns it into a ``FrameError``)."""


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes, list, tuple)) or isinstance(b, (str, bytes, list, tuple)):
        count = b if isinstance(a, (str, bytes, list, tuple)) else a
        if not isinstance(count, int) or count > _MAX_REPEAT:
            raise ExprError(f"repeat count {count!r} is too large")
    return a * b


def _div(a: Any, b: Any) -> Decimal:
    return _decimal(a) / _decimal(b)


def _pow(a: Any, b: Any) -> Any:
    if not isinstance(b, int) or abs(b) > _MAX_EXPONENT:
        raise ExprError(f"exponent {b!r} is out of range")
    if isinstance(a, int) and b < 0:
        return Decimal(a) ** b
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    if not isinstance(b, int) or b > _MAX_SHIFT:
        raise ExprError(f"shift {b!r} is out of range")
    return a << b


def _attr(value: Any, name: str) -> Any:
    if isinstance(value, dict):  # dicts (and construct's containers) first: the common, quick case
        return value.get(name)
    if isinstance(value, Mapping):
        return value.get(name)
    return None


def _index(value: Any, key: Any) -> Any:
    if value is None:
        return None
    try:
        return value[key]
    except (IndexError, KeyError, TypeError):
        return None


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ExprError(f"{value!r} is not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value)
    raise ExprError(f"{value!r} is not a number")


def _pow10(exponent: Any) -> Decimal:
    if not isinstance(exponent, int) or abs(exponent) > _MAX_EXPONENT:
        raise ExprError(f"exponent {exponent!r} is out of range")
    return Decimal(1).scaleb(exponent)


def _plain(value: Any) -> Any:
    """A Decimal written without an exponent (``3.5E+4`` -> ``35000``); anything else unchanged."""
    if isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent > 0:  # type: ignore[operator]
        try:
            return value.quantize(Decimal(1))
        except ArithmeticError:  # more digits than the decimal context holds: the exponent stays
            return value
    return value


def _date(year: Any, month: Any, day: Any) -> str | None:
    try:
        return _dt.date(year, month, day).isoformat()
    except (TypeError, ValueError):
        return None


def _datetime(year: Any, month: Any, day: Any, hour: Any, minute: Any, second: Any = 0) -> str | None:
    try:
        return _dt.datetime(year, month, day, hour, minute, second).isoformat()
    except (TypeError, ValueError):
        return None


def _time(hour: Any, minute: Any, second: Any = 0) -> str | None:
    try:
        return _dt.time(hour, minute, second).isoformat()
    except (TypeError, ValueError):
        return None


def _hexstr(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:X}"
    return bytes(value).hex().upper()


def _uint(data: Any, order: str = "little") -> int:
    if order not in ("little", "big"):
        raise ExprError(f"byte order must be 'little' or 'big', got {order!r}")
    return int.from_bytes(bytes(data), "little" if order == "little" else "big")


def _sint(data: Any, order: str = "little") -> int:
    if order not in ("little", "big"):
        raise ExprError(f"byte order must be 'little' or 'big', got {order!r}")
    return int.from_bytes(bytes(data), "little" if order == "little" else "big", signed=True)


def _bytes(items: Any) -> bytes:
    if not isinstance(items, (list, tuple, bytes)):
        raise ExprError(f"bytes() takes a list of byte values, got {items!r}")
    return bytes(items)


def _fromhex(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ExprError(f"fromhex() takes hex text, got {text!r}")
    return bytes.fromhex(text)


def _reverse(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple)):
        return value[::-1]
    raise ExprError(f"cannot reverse {value!r}")


def _join(items: Any, separator: str = "") -> str:
    return str(separator).join(str(item) for item in items)


def _format(value: Any, spec: str) -> str:
    return format(value, str(spec))


def _lookup_unbound(table: str, key: Any) -> Any:  # replaced per spec by ``Expr`` users (see Tables)
    raise ExprError("no tables")


#: the functions expressions may call: name -> (implementation, least and most arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "len": (len, 1, 1),
    "min": (min, 1, 8),
    "max": (max, 1, 8),
    "abs": (abs, 1, 1),
    "sum": (sum, 1, 2),
    "any": (any, 1, 1),
    "all": (all, 1, 1),
    "int": (int, 1, 2),
    "str": (str, 1, 1),
    "bool": (bool, 1, 1),
    "round": (round, 1, 2),
    "chr": (chr, 1, 1),
    "ord": (ord, 1, 1),
    "enumerate": (lambda items: list(enumerate(items)), 1, 1),
    "decimal": (_decimal, 1, 1),
    "pow10": (_pow10, 1, 1),
    "plain": (_plain, 1, 1),
    "date": (_date, 3, 3),
    "datetime": (_datetime, 5, 6),
    "time": (_time, 2, 3),
    "hexstr": (_hexstr, 1, 1),
    "uint": (_uint, 1, 2),
    "sint": (_sint, 1, 2),
    "bytes": (_bytes, 1, 1),
    "reverse": (_reverse, 1, 1),
    "fromhex": (_fromhex, 1, 1),
    "join": (_join, 1, 2),
    "format": (_format, 2, 2),
    "lookup": (_lookup_unbound, 2, 2),
}

#: helpers the translated source calls (the generated code's namespace must hold them)
HELPERS: dict[str, Any] = {
    "_x_mul": _mul,
    "_x_div": _div,
    "_x_pow": _pow,
    "_x_lshift": _lshift,
    "_x_attr": _attr,
    "_x_index": _index,
    **{f"_f_{name}": impl for name, (impl, _, _) in FUNCTIONS.items() if name != "lookup"},
}
