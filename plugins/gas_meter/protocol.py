"""Facts of the gas-meter protocol the handler needs: reply codes, limits and value checks.

The packet layouts themselves live in ``specs/gas_meter.yaml``; this module only holds what the server
decides with them.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, TypeGuard

#: ``TS next`` telling a meter to stop reporting (unknown or deactivated device)
TS_STOP = 0xFFFFFFFF
#: ``TS next`` telling a meter to report again immediately (after an initialisation packet)
TS_IMMEDIATELY = 0
INT32_MAX = 2**31 - 1
U16_MAX = 0xFFFF
U32_MAX = 0xFFFFFFFF
#: the original configuration's typical reporting interval, used when a device document lacks one
DEFAULT_REF_INTERVAL = 43200

UID_RE = re.compile(r"^[0-9A-F]{8}$")

#: return-code bit sets (the spec adds the parity bit): 0xC0, 0xC9 and the time-sync reply 0x81
RC_NORMAL = {"ts": True, "minmax": True}
RC_STOP = {"ts": True, "minmax": True}
RC_INIT = {"ts": True, "minmax": True, "count": True}
RC_TIME_SYNC = {"ts": True}

#: EID names as the spec decodes them
EID_NORMAL = "normal"
EID_TIMESTAMP = "timestamp"
EID_EVENT = "event"
EID_INIT = "init"


#: event code -> (code number, event_type, event_level, message); the types follow the web contract's
#: intended event record (``tamper_detected`` ...)
EVENT_KINDS: dict[Any, tuple[int, str, str, str]] = {
    "magnetic": (1, "tamper_detected", "critical", "external magnetic field detected (tamper)"),
    "rotation_speed": (2, "rotation_speed_violation", "warning", "rotation speed outside the min/max interval"),
}


def describe_event(code: Any) -> tuple[int, str, str, str]:
    """``(event_code, event_type, event_level, event_message)`` for a decoded event code.

    The spec decodes 1 and 2 to names and keeps any other value as an int.
    """
    if isinstance(code, str) and code in EVENT_KINDS:
        return EVENT_KINDS[code]
    # plain int: the spec may hand an unknown enum value back as an int subclass
    number = int(code) if isinstance(code, int) and not isinstance(code, bool) else -1
    for kind in EVENT_KINDS.values():
        if kind[0] == number:
            return kind
    return number, "unknown_event", "info", f"unknown event code {code!r}"


def is_valid_uid(uid: Any) -> TypeGuard[str]:
    """A device uid is exactly 8 characters from 0-9A-F."""
    return isinstance(uid, str) and bool(UID_RE.match(uid))


def as_int(value: Any, low: int, high: int) -> int | None:
    """``value`` as an int within ``[low, high]``, or None when it is missing, not integral or out of range.

    Device documents are written by several clients (the admin CLI, the web API, old PHP/JS tools), so an
    int may arrive as an integral float or a digit string.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        return None
    return number if low <= number <= high else None


def as_ipv4(value: Any) -> str | None:
    """A dotted IPv4 string, or None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    return _ipv4_text(value)


@functools.lru_cache(maxsize=1024)
def _ipv4_text(value: str) -> str | None:
    # a fleet's devices name a handful of servers: each parsed once
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        return None
