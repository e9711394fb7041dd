"""Which fields of a device and a subscriber the compatible endpoint writes, who may write them, and
their types as the original layout has them (integers as int32, ``flag`` a bool, ``server_ip`` a dotted
IPv4 string), so the original data server keeps reading what is written here.

The original wrote every key of a request body into the device document (``login_id`` and ``userseq``
included), so anyone could redirect a meter with ``server_ip``. Here the fields a role may write are the
REST API's (:func:`web.api.devices.editable_fields`, checked by :data:`web.api.devices.FIELD_CHECKS`), with
the values the original clients send (digits for integers, ``"active"`` for ``flag``) converted first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.security.roles import Principal
from web.api.devices import FIELD_CHECKS, editable_fields
from web.api.subscribers import DEVICE_COPIES
from web.compat.envelope import PERMISSION_DENIED, Refused, bad_request
from web.compat.inputs import integer

_ADDRESS = ("addr_prov", "addr_city", "addr_dist", "addr_dong", "addr_road", "addr_detail", "addr_apt")
#: what an installer records when it installs a device (``bind``, v2 ``install_device_info``)
INSTALL_FIELDS = frozenset({"meter_id", "install_date", "initial_count", "ref_interval", "comment", "flag"})
#: the subscriber data a device carries (the original clients copied it into the device; a bind does)
COPY_FIELDS = frozenset(DEVICE_COPIES) | {"addr_road"}
#: what a device document holds that a client may name: any other field is unknown (400)
KNOWN_FIELDS = frozenset(FIELD_CHECKS) | COPY_FIELDS | {"release_date", "param", "group1", "group2", "group3"}
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


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("active", "true", "True", 1, "1"):
        return True
    if value in ("inactive", "false", "False", 0, "0"):
        return False
    raise bad_request(f"{name} must be true or false, got {value!r}")


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
#: how the original clients' values become the stored ones before the REST API's checks
_DEVICE_VALUES: dict[str, _Convert] = {
    "initial_count": integer,
    "ref_interval": integer,
    "minimum": integer,
    "maximum": integer,
    "server_port": integer,
    "flag": _flag,
    "share_house": _share_house,
}


def writable_fields(caller: Principal) -> frozenset[str]:
    """The REST API's fields of the caller, and for those who may write the customer fields the rest of
    the subscriber data a device carries too."""
    fields = editable_fields(caller)
    return fields | COPY_FIELDS if "customer_name" in fields else fields


def device_changes(fields: Mapping[str, Any], caller: Principal) -> dict[str, Any]:
    """The device fields of ``fields`` converted and checked. Reported fields are dropped, and so are the
    subscriber data the caller may not write (the clients send them back as read; a bind copies the
    subscriber's own); an unknown field is a 400; any other field the caller's role may not change
    (``server_ip``, ``installer_id``, ...) is a 403 ``Permission denied``."""
    unknown = sorted(set(fields) - KNOWN_FIELDS - REPORTED_FIELDS)
    if unknown:
        raise bad_request(f"unknown device fields: {', '.join(unknown)}")
    writable = writable_fields(caller)
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name in REPORTED_FIELDS or (name in COPY_FIELDS and name not in writable):
            continue
        if name not in writable:
            raise Refused(PERMISSION_DENIED)
        value = _DEVICE_VALUES.get(name, _text)(value, name)
        check = FIELD_CHECKS.get(name)
        changes[name] = check(name, value) if check is not None else value
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
