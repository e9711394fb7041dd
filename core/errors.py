"""Every error specgate raises on purpose.

SpecgateError
├── SpecError                  a spec file is wrong (schema, semantics, compile, examples)
├── FrameError                 bytes that do not parse or build under a spec (carries the field path)
│   ├── ChecksumError
│   └── FramingError
├── StoreError                 the store could not do what was asked
│   ├── StoreUnavailable       the backend is down or timed out: callers must not acknowledge anything
│   ├── InvalidInput           a value of the wrong type or shape reached the store (never executed)
│   ├── NotFound
│   └── Conflict               a unique value already exists
└── ConfigError                configuration or command-line values that cannot be used
"""

from __future__ import annotations


class SpecgateError(Exception):
    """Base of all specgate errors."""


class SpecError(SpecgateError):
    """A spec file is invalid. ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class FrameError(SpecgateError):
    """Bytes that do not match a spec. ``path`` is the field path, e.g. ``report -> counts -> 3 -> ts``."""

    def __init__(self, message: str, path: str = "", expected: object = None, found: object = None) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.found = found


class ChecksumError(FrameError):
    """A checksum or parity field does not match the bytes it covers."""


class FramingError(FrameError):
    """A frame boundary could not be found or a frame is too long."""


class StoreError(SpecgateError):
    """The store could not complete an operation."""


class StoreUnavailable(StoreError):
    """The backend is unreachable or failed; nothing may be acknowledged to a device."""


class InvalidInput(StoreError, ValueError):
    """A value of the wrong type or shape (an operator-looking dict, say) was refused, never executed."""


class NotFound(StoreError, LookupError):
    """The requested record does not exist."""


class Conflict(StoreError):
    """A record with the same unique key already exists."""


class ConfigError(SpecgateError):
    """A configuration or command-line value that cannot be used; the message names it."""
