"""The tenant's devices: ``/api/v1/devices``, one device, its editable fields, and releasing new ones.

The tenant always comes from the caller (:func:`core.routing.caller_tenant`). An installer (role
``installer``) sees and changes only the devices whose ``installer_id`` is its login ID; any other device is
answered 404, as one of another tenant is, so nobody learns which devices exist elsewhere.

Who may change which field (``PATCH /api/v1/devices/{uid}``), the one table of it being
:data:`EDITABLE_FIELDS`:

=================  ==========================================================================================
caller             fields
=================  ==========================================================================================
admin              meter_id, customer_no, customer_name, addr_prov, addr_city, addr_dist, addr_detail,
                   addr_apt, flag, ref_interval, minimum, maximum, initial_count, install_date, comment,
                   installer_id (a user of the tenant)
operator           the admin's fields except installer_id
installer          on its own devices only: meter_id, install_date, initial_count, ref_interval, comment,
                   flag, customer_no
system admin       the admin's fields, and server_ip, server_port (where the device is told to report: no
                   tenant user may redirect a meter)
=================  ==========================================================================================

What the gateway writes (``last_*``, ``battery``, ``uptime``, ``initial_access``, ``device_uid``, ...) is
never changed here. A key outside the caller's fields is answered 400 naming it; so is a value of the wrong
type (integers are JSON integers within their range, ``flag`` a boolean, texts bounded).

Releasing (``POST /api/v1/devices/release``) gives manufactured devices to the caller's tenant and an
installer of it, as the original's "release product" did, without its faults: a device already routed is
never moved or changed (``exists`` when it is this tenant's, ``other_tenant`` when it is not, which tenant
never said), a uid repeated in the request is reported under ``duplicates`` and added once. A released
device is inactive (``flag`` false) until someone activates it. ``server_ip``, ``server_port``,
``ref_interval``, ``minimum`` and ``maximum`` are written when the request gives them; one not given is left
out, and the gateway then falls back as for any device without it (no server address sent, so the meter
keeps its own; the configured default interval; the meter's own thresholds; see ``docs/gas-meter.md``).
Release never touches an existing device, so these fields cannot redirect a meter already in use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.errors import Conflict, NotFound
from core.http import BadRequest, JSONResponse, PageRequest, paged_response, query_bool, query_str, read_json_object
from core.routing import PAGE_PARAMS, ApiRoute, Param, caller_tenant
from core.security.roles import Principal
from core.store import ListQuery, Store

INT32_MAX = 2**31 - 1
U16_MAX = 65535
#: the most devices one release request may name
MAX_RELEASE = 1000
#: a released uid: letters, digits and ``_.:-``, as a device type's uids are spelt (checked, never rewritten)
UID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHORT_TEXT = 200
_LONG_TEXT = 2000

# --------------------------------------------------------------------------- field values


Check = Callable[[str, Any], Any]


def _text(max_length: int, multiline: bool = False) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be a string, got {_kind(value)}")
        if len(value) > max_length:
            raise BadRequest(f"{name} must be at most {max_length} characters, got {len(value)}")
        allowed = "\n\r\t" if multiline else ""
        if any(ord(c) < 32 and c not in allowed for c in value) or "\x7f" in value:
            raise BadRequest(f"{name} may not contain control characters")
        return value

    return check


def _integer(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"{name} must be an integer, got {_kind(value)}")
        if not low <= value <= high:
            raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
        return value

    return check


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {_kind(value)}")
    return value


def _day(name: str, value: Any) -> str:
    """``YYYY-MM-DD`` (a real date), or ``""`` to clear it."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a date YYYY-MM-DD, got {_kind(value)}")
    if value == "":
        return value
    try:
        if not _DATE_RE.fullmatch(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
    return value


def _ipv4(name: str, value: Any) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise BadRequest(f"{name} must be a dotted IPv4 address such as 192.0.2.10, got {value!r}") from None


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


#: how each field a caller may change is checked
FIELD_CHECKS: dict[str, Check] = {
    "meter_id": _text(_SHORT_TEXT),
    "customer_no": _text(_SHORT_TEXT),
    "customer_name": _text(_SHORT_TEXT),
    "addr_prov": _text(_SHORT_TEXT),
    "addr_city": _text(_SHORT_TEXT),
    "addr_dist": _text(_SHORT_TEXT),
    "addr_detail": _text(_SHORT_TEXT),
    "addr_apt": _text(_SHORT_TEXT),
    "installer_id": _text(_SHORT_TEXT),
    "install_date": _day,
    "comment": _text(_LONG_TEXT, multiline=True),
    "flag": _boolean,
    "ref_interval": _integer(1, INT32_MAX),
    "initial_count": _integer(0, INT32_MAX),
    # sent to the meter as 16-bit values
    "minimum": _integer(0, U16_MAX),
    "maximum": _integer(0, U16_MAX),
    "server_ip": _ipv4,
    "server_port": _integer(1, U16_MAX),
}

_STAFF_FIELDS = frozenset(
    {
        "meter_id",
        "customer_no",
        "customer_name",
        "addr_prov",
        "addr_city",
        "addr_dist",
        "addr_detail",
        "addr_apt",
        "flag",
        "ref_interval",
        "minimum",
        "maximum",
        "initial_count",
        "install_date",
        "comment",
    }
)
#: the device fields each role may change (see the module docstring)
EDITABLE_FIELDS: dict[str, frozenset[str]] = {
    "admin": _STAFF_FIELDS | {"installer_id"},
    "operator": _STAFF_FIELDS,
    "installer": frozenset(
        {"meter_id", "install_date", "initial_count", "ref_interval", "comment", "flag", "customer_no"}
    ),
}
#: what only a system administrator may change: where the meter is told to report
SYSTEM_ADMIN_FIELDS = frozenset({"server_ip", "server_port"})


def editable_fields(caller: Principal) -> frozenset[str]:
    """The device fields ``caller`` may change."""
    if caller.system_admin:
        return EDITABLE_FIELDS["admin"] | SYSTEM_ADMIN_FIELDS
    return EDITABLE_FIELDS.get(caller.role, frozenset())


# --------------------------------------------------------------------------- whose devices


def installer_scope(caller: Principal) -> str | None:
    """The login ID an installer's view is limited to; None for a caller who sees the whole tenant."""
    if caller.role == "installer" and not caller.system_admin:
        return caller.login_id
    return None


async def device_for(request: Request, caller: Principal, uid: str) -> tuple[str, dict[str, Any]]:
    """``(tenant, device)`` of ``uid`` when the caller may see it; ``NotFound`` (404) otherwise."""
    tenant = caller_tenant(caller)
    device = await request.app.state.store.get_device(tenant, uid)
    own = installer_scope(caller)
    if device is None or (own is not None and device.get("installer_id") != own):
        raise NotFound("no such device")
    return tenant, device


def reporting_late(device: dict[str, Any], now: float) -> bool:
    """An active device whose newest report is older than twice its interval. A device that never reported,
    or has no usable interval, is not late: nothing says when it should have reported."""
    interval, last = device.get("ref_interval"), device.get("last_timestamp")
    if device.get("flag") is not True or isinstance(interval, bool) or isinstance(last, bool):
        return False
    if not isinstance(interval, (int, float)) or interval <= 0 or not isinstance(last, (int, float)):
        return False
    return now - last > 2 * interval


def device_view(request: Request, device: dict[str, Any]) -> dict[str, Any]:
    """The device as stored, with ``reporting_late``."""
    return {**device, "reporting_late": reporting_late(device, request.app.state.clock())}


# --------------------------------------------------------------------------- routes


def _int_param(request: Request, name: str) -> int | None:
    text = query_str(request, name, 20)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"query parameter {name} must be an integer, got {text!r}") from None


async def list_devices(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    page = PageRequest.from_request(request)
    filters: dict[str, Any] = {}
    for name in ("customer_no", "meter_id", "installer_id"):
        value = query_str(request, name)
        if value is not None:
            filters[name] = value
    flag = query_bool(request, "flag")
    if flag is not None:
        filters["flag"] = flag
    status = _int_param(request, "status")
    if status is not None:
        filters["status"] = status
    own = installer_scope(caller)
    if own is not None:
        if filters.get("installer_id", own) != own:
            return paged_response([], page.offset, page.limit, 0)
        filters["installer_id"] = own
    query = ListQuery(
        filters=filters,
        sort=page.sort,
        descending=page.descending,
        limit=page.limit,
        offset=page.offset,
        search=page.search,
    )
    found = await request.app.state.store.list_devices(tenant, query)
    return paged_response([device_view(request, d) for d in found.items], page.offset, page.limit, found.total)


async def get_device(request: Request, caller: Principal) -> Response:
    _, device = await device_for(request, caller, request.path_params["uid"])
    return JSONResponse({"ok": True, "device": device_view(request, device)})


async def patch_device(request: Request, caller: Principal) -> Response:
    uid = request.path_params["uid"]
    tenant, _ = await device_for(request, caller, uid)
    body = await read_json_object(request)
    if not body:
        raise BadRequest("give at least one field to change")
    allowed = editable_fields(caller)
    refused = sorted(name for name in body if name not in allowed)
    if refused:
        raise BadRequest(
            f"field(s) {', '.join(refused)} may not be changed by you; you may change: {', '.join(sorted(allowed))}"
        )
    fields = {name: FIELD_CHECKS[name](name, value) for name, value in body.items()}
    store: Store = request.app.state.store
    if (
        "installer_id" in fields
        and fields["installer_id"]
        and await store.get_user(tenant, fields["installer_id"]) is None
    ):
        raise BadRequest(f"installer_id {fields['installer_id']!r} is not a user of your tenant")
    if not await store.update_device(tenant, uid, fields):
        raise NotFound("no such device")
    _, device = await device_for(request, caller, uid)
    return JSONResponse({"ok": True, "device": device_view(request, device)})


#: what a release request may carry besides the uids, and how each is checked
_RELEASE_FIELDS: dict[str, Check] = {
    "installer_id": _text(_SHORT_TEXT),
    "release_date": _day,
    "comment": _text(_LONG_TEXT, multiline=True),
    "server_ip": _ipv4,
    "server_port": FIELD_CHECKS["server_port"],
    "ref_interval": FIELD_CHECKS["ref_interval"],
    "minimum": FIELD_CHECKS["minimum"],
    "maximum": FIELD_CHECKS["maximum"],
}


def _release_uids(body: dict[str, Any]) -> list[str]:
    uids = body.get("devices")
    if not isinstance(uids, list) or not uids:
        raise BadRequest("devices must be a non-empty list of device uids")
    if len(uids) > MAX_RELEASE:
        raise BadRequest(f"devices may list at most {MAX_RELEASE} uids, got {len(uids)}")
    for index, uid in enumerate(uids):
        if not isinstance(uid, str) or not UID_RE.fullmatch(uid):
            raise BadRequest(f"devices[{index}] must be a device uid (letters, digits, _.:-), got {_kind(uid)}")
    return uids


async def release_devices(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    body = await read_json_object(request, limit=128 * 1024)
    unknown = sorted(name for name in body if name != "devices" and name not in _RELEASE_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; allowed: devices, {', '.join(_RELEASE_FIELDS)}")
    uids = _release_uids(body)
    if "installer_id" not in body:
        raise BadRequest("installer_id is required: the login ID of a user of your tenant")
    given = {name: check(name, body[name]) for name, check in _RELEASE_FIELDS.items() if name in body}
    store: Store = request.app.state.store
    if await store.get_user(tenant, given["installer_id"]) is None:
        raise BadRequest(f"installer_id {given['installer_id']!r} is not a user of your tenant")
    now = request.app.state.clock()
    template = {
        "release_date": datetime.fromtimestamp(now, request.app.state.config.tz).date().isoformat(),
        "comment": "",
        **given,
        "flag": False,
    }
    report: dict[str, list[str]] = {"added": [], "exists": [], "other_tenant": [], "duplicates": []}
    seen: set[str] = set()
    for uid in uids:
        if uid in seen:
            report["duplicates"].append(uid)
            continue
        seen.add(uid)
        report[await _release_one(store, tenant, uid, template)].append(uid)
    return JSONResponse({"ok": True, **report})


async def _release_one(store: Store, tenant: str, uid: str, template: dict[str, Any]) -> str:
    """Add one device unless it is routed already: which list of the report it belongs to."""
    route = await store.get_device_route(uid)
    if route is None:
        try:
            await store.add_device(tenant, {"device_uid": uid, **template})
            return "added"
        except Conflict:
            route = await store.get_device_route(uid)  # released by someone else meanwhile
    return "exists" if route == tenant else "other_tenant"


_DEVICE_PROPERTIES: dict[str, Any] = {
    "meter_id": {"type": "string"},
    "customer_no": {"type": "string"},
    "customer_name": {"type": "string"},
    "addr_prov": {"type": "string"},
    "addr_city": {"type": "string"},
    "addr_dist": {"type": "string"},
    "addr_detail": {"type": "string"},
    "addr_apt": {"type": "string"},
    "installer_id": {"type": "string"},
    "install_date": {"type": "string", "format": "date"},
    "comment": {"type": "string"},
    "flag": {"type": "boolean"},
    "ref_interval": {"type": "integer", "minimum": 1},
    "initial_count": {"type": "integer", "minimum": 0},
    "minimum": {"type": "integer", "minimum": 0, "maximum": U16_MAX},
    "maximum": {"type": "integer", "minimum": 0, "maximum": U16_MAX},
    "server_ip": {"type": "string", "format": "ipv4"},
    "server_port": {"type": "integer", "minimum": 1, "maximum": U16_MAX},
}

ROUTES = [
    ApiRoute(
        "/api/v1/devices",
        list_devices,
        methods=["GET"],
        permission="devices.read",
        summary="The tenant's devices (an installer: those it installed), each with reporting_late",
        query=[
            Param("flag", "active (true) or inactive (false)", {"type": "boolean"}),
            Param("customer_no", "only this customer's devices"),
            Param("meter_id", "only the device of this meter"),
            Param("installer_id", "only the devices of this installer"),
            Param("status", "only devices with this status", {"type": "integer"}),
            Param("q", "text in device_uid, meter_id, customer_no, customer_name or installer_id"),
            Param("sort", "field or -field: device_uid, meter_id, installer_id, flag, customer_no, status, ..."),
            *PAGE_PARAMS,
        ],
        tags=["devices"],
    ),
    ApiRoute(
        "/api/v1/devices/release",
        release_devices,
        methods=["POST"],
        permission="devices.release",
        summary="Release manufactured devices to the tenant and an installer; a per-uid report",
        body={
            "type": "object",
            "required": ["devices", "installer_id"],
            "properties": {
                "devices": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_RELEASE},
                "installer_id": {"type": "string"},
                "release_date": {"type": "string", "format": "date"},
                "comment": {"type": "string"},
                **{name: _DEVICE_PROPERTIES[name] for name in ("server_ip", "server_port", "ref_interval")},
                **{name: _DEVICE_PROPERTIES[name] for name in ("minimum", "maximum")},
            },
            "additionalProperties": False,
        },
        tags=["devices"],
    ),
    ApiRoute(
        "/api/v1/devices/{uid}",
        get_device,
        methods=["GET"],
        permission="devices.read",
        summary="One device, with reporting_late",
        tags=["devices"],
    ),
    ApiRoute(
        "/api/v1/devices/{uid}",
        patch_device,
        methods=["PATCH"],
        permission="devices.update",
        summary="Change the fields of a device the caller's role may change",
        body={"type": "object", "properties": _DEVICE_PROPERTIES, "additionalProperties": False},
        tags=["devices"],
    ),
]
