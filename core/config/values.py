"""Value checks for configuration entries: each turns a file, environment or flag value into its type, or
raises :class:`~core.errors.ConfigError` naming the key, where it came from and the value given.

Text is accepted wherever a value may come from an environment variable or a ``--listen`` flag
(``"30"``, ``"true"``); a value of the wrong Python type is refused, never guessed (``"false"`` is false,
not a non-empty string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("0", "false", "no", "off")


def where(key: str, source: str = "") -> str:
    """``key (from source)``: how error messages name a setting."""
    return f"{key} (from {source})" if source else key


def as_int(value: object, key: str, source: str = "", low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where(key, source)} must be an integer, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"{where(key, source)} must be an integer, got {value!r}") from None
    if not isinstance(value, int):
        raise ConfigError(f"{where(key, source)} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{where(key, source)} must be {bounds}, got {value!r}")
    return value


def as_float(value: object, key: str, source: str = "", positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where(key, source)} must be a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise ConfigError(f"{where(key, source)} must be a number, got {value!r}") from None
    if positive and not number > 0:
        raise ConfigError(f"{where(key, source)} must be a number above 0, got {value!r}")
    return number


def as_bool(value: object, key: str, source: str = "") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE_WORDS:
        return False
    raise ConfigError(f"{where(key, source)} must be true or false, got {value!r}")


def as_str(value: object, key: str, source: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where(key, source)} must be a non-empty string, got {value!r}")
    return value.strip()


def as_names(value: object, key: str, source: str = "") -> list[str]:
    """A list of names, or one comma-separated string of them."""
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ConfigError(f"{where(key, source)} must be a list of names, got {value!r}")


def as_mapping(value: object, key: str, source: str = "") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where(key, source)} must be a mapping, got {value!r}")
    return dict(value)


def check_keys(mapping: Mapping[str, object], allowed: tuple[str, ...], place: str) -> None:
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {place}; allowed: {', '.join(sorted(allowed))}")


def as_log_level(value: object, key: str, source: str = "") -> str:
    level = as_str(value, key, source).upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"{where(key, source)} must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return level
