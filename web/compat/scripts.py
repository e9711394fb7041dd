"""The scripts of ``POST /api/<script>``: the v2 shim (``page``/``action`` sub-routing of ``query`` and
``update``, §6.1 of the contract) and the one table of every (script, action) with the permission it
needs and its handler. ``docs/compatibility.md`` prints the same table; a test keeps them equal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from web.compat import database, devices, readings, subscribers, users
from web.compat.context import Call, Exchange
from web.compat.envelope import NOT_FOUND, Refused, Reply
from web.compat.session import login, logout, register


@dataclass(frozen=True)
class Operation:
    permission: str
    run: Callable[[Call], Awaitable[Reply]]
    summary: str


#: the scripts that need no session; each checks what it needs itself
PUBLIC: dict[str, Callable[[Exchange], Awaitable[Reply]]] = {"login": login, "logout": logout, "register": register}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("device", "list"): Operation("devices.read", devices.list_devices, "devices (an installer: its own)"),
    ("device", "view"): Operation("devices.read", devices.view_device, "one device by device_uid or meter_id"),
    ("device", "modify"): Operation("devices.update", devices.modify_device, "change a device's fields"),
    ("device", "bind"): Operation("devices.update", devices.bind_device, "install a device on a meter"),
    ("device", "unbind"): Operation("devices.update", devices.unbind_device, "take a device off its meter"),
    ("device", "delete"): Operation("devices.release", devices.delete_device, "delete a device and its route"),
    ("device", "release"): Operation("devices.release", devices.release_devices, "release devices to an installer"),
    ("device", "releaseproduct"): Operation("devices.release", devices.release_product, "v2 release product (usnList)"),
    ("user", "list"): Operation("self", users.list_users, "the tenant's users (anyone else: itself)"),
    ("user", "view"): Operation("self", users.view_user, "one user (anyone else: itself)"),
    ("user", "modify"): Operation("self", users.modify_user, "change a user (anyone: its own profile)"),
    ("user", "add"): Operation("users.manage", users.add_user, "create a user of the tenant"),
    ("user", "delete"): Operation("users.manage", users.delete_user, "delete a user of the tenant"),
    ("user", "approve"): Operation(
        "registrations.manage", users.approve_registration, "approve a pending registration"
    ),
    ("floating_user", "list"): Operation(
        "registrations.manage", users.list_registrations, "registrations pending for the tenant"
    ),
    ("floating_user", "approve"): Operation(
        "registrations.manage", users.approve_registration, "approve a pending registration"
    ),
    ("floating_user", "update_floating_user"): Operation(
        "registrations.manage", users.approve_registration, "v2 approval"
    ),
    ("subscriber", "list"): Operation("subscribers.read", subscribers.list_subscribers, "the tenant's subscribers"),
    ("subscriber", "view"): Operation("subscribers.read", subscribers.view_subscriber, "one subscriber by meter_id"),
    ("subscriber", "modify"): Operation("subscribers.manage", subscribers.modify_subscriber, "change a subscriber"),
    ("subscriber", "delete"): Operation("subscribers.manage", subscribers.delete_subscriber, "delete a subscriber"),
    ("subscriber", "bind"): Operation("subscribers.bind", subscribers.bind_subscriber, "bind a subscriber to a device"),
    ("subscriber", "import"): Operation("subscribers.manage", subscribers.import_subscribers, "import subscribers"),
    ("usage", "list"): Operation("data.read", readings.monthly_usage, "month-to-date usage per active device"),
    ("usage", "series"): Operation("data.read", readings.usage_series, "v2 usage data: one device's raw counts"),
    ("data", "list"): Operation("data.read", readings.list_data, "readings, paged"),
    ("event", "list"): Operation("data.read", readings.list_events, "events, newest first, paged"),
    ("event", "view"): Operation("data.read", readings.view_event, "one event by event_id"),
    ("recv_data", "list"): Operation("exchanges.read", readings.received_data, "v2 received packets of the tenant"),
    ("database", "list"): Operation("database.browse", database.database_tree, "the tenant's collections"),
    ("database", "view"): Operation("database.browse", database.view_collection, "rows of one collection"),
    ("insert", ""): Operation("database.browse", database.insert_documents, "insert subscribers or devices"),
}

#: scripts a v3 client names in the path (the action comes from the body)
V3_SCRIPTS = frozenset(script for script, _ in OPERATIONS) - {"recv_data", "insert"}
#: every name the path may give: the v3 scripts, the v2 ones and those that need no session
SCRIPT_NAMES = V3_SCRIPTS | {"query", "update", "insert"} | set(PUBLIC)
#: v2 ``page`` values and the script each maps to (§6.1)
PAGES = {
    "device_info": "device",
    "users": "user",
    "usage_data": "usage",
    "usage_info": "usage",
    "event_data": "event",
    "subscriber_data": "subscriber",
    "floating_user": "floating_user",
}


def route(script: str, body: dict[str, Any]) -> tuple[str, str]:
    """``(script, action)`` of a request to ``/api/<script>``; ``Refused`` (404) when there is none.

    ``query`` and ``update`` are routed by ``page`` with the action ``list`` and ``modify`` as in v3,
    except where v3 lost a v2 page (``recv_data``, ``releaseproduct``, raw ``usage_data``, the v2 users
    actions): those are routed to what the v2 page did.
    """
    given = body.get("action")
    action = given if isinstance(given, str) else ""
    if script == "insert":
        return "insert", ""
    if script in V3_SCRIPTS:
        return script, action
    if script not in ("query", "update"):
        raise Refused(NOT_FOUND)
    verb = "list" if script == "query" else "modify"
    page = body.get("page")
    if page == "database":
        if action == "get_db_tree":
            return "database", "list"
        if body.get("table") == "subscriber" and action != "get_db_data":
            return "subscriber", verb
        if script == "query":
            return "database", "view"
    elif page == "users" and action == "list_floating_users" and script == "query":
        return "floating_user", "list"
    elif page == "users" and action == "update_floating_user" and script == "update":
        return "floating_user", "update_floating_user"
    elif page == "usage_data" and script == "query" and "device_uid" in body:
        return "usage", "series"
    elif page == "recv_data" and script == "query":
        return "recv_data", "list"
    elif page == "releaseproduct" and script == "update":
        return "device", "releaseproduct"
    elif page == "install_device_info" and script == "update":
        return "device", "bind"
    elif isinstance(page, str) and page in PAGES:
        return PAGES[page], verb
    raise Refused(NOT_FOUND)
