"""Which fields of a device and a subscriber the compatible endpoint writes, who may write them, and
their types as the original layout has them (integers as int32, ``flag`` a bool, ``server_ip`` a dotted
IPv4 string), so the original data server keeps reading what is written here.

The original wrote every key of a request body into the device document (``login_id`` and ``userseq``
included), so anyone could redirect a meter with ``server_ip``. Here a field is written only when it is
listed below for the caller's role; fields the device itself reports are never taken from a client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from core.security.roles import Principal, allowed
from web.compat.envelope import PERMISSION_DENIED, Refused, bad_request
from web.compat.inputs import integer

_ADDRESS = ("addr_prov", "addr_city", "addr_dist", "addr_dong", "addr_road", "addr_detail", "addr_apt")
#: the subscriber data copied into a device, and what an installer records when it installs one
INSTALL_FIELDS = frozenset(
    {
        "meter_id",
        "install_date",
        "initial_count",
        "ref_interval",
        "comment",
        "flag",
        "customer_name",
        "customer_no",
        "subscriber_no",
        "share_house",
        "category",
        "class",
        "in_outdoor",
        *_ADDRESS,
    }
)
#: where the device reports to and what it checks: changing them redirects or reconfigures a meter
CONFIGURATION_FIELDS = frozenset(
    {"minimum", "maximum", "server_ip", "server_port", "param", "group1", "group2", "group3"}
)
#: who installs a device and when it was released: what a release decides
RELEASE_FIELDS = frozenset({"installer_id", "release_date"})
#: what the device reports itself; a client sending them back (as read) is not an error, they are ignored
REPORTED_FIELDS = frozenset(
    {
        "device_uid",
        "last_access",
        "initial_access",
        "last_timestamp",
        "last_count",
        "battery",
        "uptime",
        "error_count",
        "status",
        "firmware_version",
    }
)

_U16 = 65535


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("active", "true", "True", 1, "1"):
        return True
    if value in ("inactive", "false", "False", 0, "0"):
        return False
    raise bad_request(f"{name} must be true or false, got {value!r}")


def _ipv4(value: Any, name: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value if isinstance(value, str) else ""))
    except ValueError:
        raise bad_request(f"{name} must be a dotted IPv4 address, got {value!r}") from None


def _text(value: Any, name: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 500 or "\x00" in value:
        raise bad_request(f"{name} must be a string of at most 500 characters, got {value!r}")
    return value


def _share_house(value: Any, name: str) -> str:
    if value not in ("O", "X", ""):
        raise bad_request(f"{name} must be O or X, got {value!r}")
    return str(value)


_Convert = Callable[[Any, str], Any]
_DEVICE_TYPES: dict[str, _Convert] = {
    "initial_count": integer,
    "ref_interval": lambda value, name: integer(value, name, 0),
    "minimum": lambda value, name: integer(value, name, 0, _U16),
    "maximum": lambda value, name: integer(value, name, 0, _U16),
    "server_port": lambda value, name: integer(value, name, 0, _U16),
    "flag": _flag,
    "server_ip": _ipv4,
    "share_house": _share_house,
}


def device_changes(fields: Mapping[str, Any], caller: Principal) -> dict[str, Any]:
    """The device fields of ``fields`` converted to their stored types. Reported fields are dropped; an
    unknown field is a 400; a field the caller's role may not change is a 403 ``Permission denied``
    (installers: the install fields; operators also the configuration; releasing needs
    ``devices.release``)."""
    changes: dict[str, Any] = {}
    unknown = sorted(set(fields) - INSTALL_FIELDS - CONFIGURATION_FIELDS - RELEASE_FIELDS - REPORTED_FIELDS)
    if unknown:
        raise bad_request(f"unknown device fields: {', '.join(unknown)}")
    for name, value in fields.items():
        if name in REPORTED_FIELDS:
            continue
        if name in CONFIGURATION_FIELDS and caller.role not in ("admin", "operator") and not caller.system_admin:
            raise Refused(PERMISSION_DENIED)
        if name in RELEASE_FIELDS and not allowed(caller, "devices.release"):
            raise Refused(PERMISSION_DENIED)
        changes[name] = _DEVICE_TYPES.get(name, _text)(value, name)
    return changes


SUBSCRIBER_FIELDS = frozenset(
    {
        "customer_no",
        "customer_name",
        "subscriber_no",
        "meter_id",
        "class",
        "share_house",
        "in_outdoor",
        "category",
        "checked",
        *_ADDRESS,
    }
)
#: set only by binding a subscriber to a device
BIND_FIELDS = frozenset({"bind_device_id", "bind_date", "binded"})
_SUBSCRIBER_TYPES: dict[str, _Convert] = {"checked": _flag, "share_house": _share_house}


def subscriber_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The subscriber fields of ``fields`` in their stored types; the bind fields are ignored (a bind
    sets them) and any other field is a 400."""
    unknown = sorted(set(fields) - SUBSCRIBER_FIELDS - BIND_FIELDS)
    if unknown:
        raise bad_request(f"unknown subscriber fields: {', '.join(unknown)}")
    return {
        name: _SUBSCRIBER_TYPES.get(name, _text)(value, name)
        for name, value in fields.items()
        if name in SUBSCRIBER_FIELDS
    }
