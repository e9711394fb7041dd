"""The tenant's gas customers (the original ``subscriber`` collection): ``/api/v1/subscribers``.

Subscribers are created or updated one at a time or imported from CSV or JSON, with a report of every
row. Binding links a subscriber to one of the tenant's devices: the subscriber records the device and the
date, and the device gets the subscriber's number and the customer fields the original clients copied to
it (which the usage views read). The binding fields are set only by bind and unbind.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.errors import Conflict, InvalidInput, NotFound
from core.http import (
    BadRequest,
    BodyTooLarge,
    JSONResponse,
    PageRequest,
    UnsupportedMediaType,
    paged_response,
    query_bool,
    query_str,
    read_json_object,
    read_limited_body,
)
from core.routing import PAGE_PARAMS, ApiRoute, Param, caller_tenant
from core.security.roles import Principal
from core.store import ListQuery, Store
from core.timeutil import local_string
from web.api.forms import list_query, printable, refuse_unknown

TEXT_FIELDS = (
    "customer_no",
    "customer_name",
    "subscriber_no",
    "meter_id",
    "addr_prov",
    "addr_city",
    "addr_dist",
    "addr_dong",
    "addr_road",
    "addr_apt",
    "addr_detail",
    "class",
    "share_house",
    "in_outdoor",
    "category",
)
FIELDS = (*TEXT_FIELDS, "checked")
#: subscriber fields a bound device carries as well
DEVICE_COPIES = tuple(name for name in TEXT_FIELDS if name not in ("meter_id", "addr_road"))
SHARE_HOUSE = ("O", "X")
MAX_IMPORT_ROWS = 5000
MAX_IMPORT_BYTES = 2 * 1024 * 1024
#: rows written (and customer numbers looked up) at once by an import
_IMPORT_BATCH = 100
_UNBOUND = {"bind_device_id": None, "bind_date": None, "binded": False}
_TRUE, _FALSE = ("true", "1", "yes", "y"), ("false", "0", "no", "n")


def key_text(value: object) -> bool:
    """Whether ``value`` can be a customer number or meter ID (as the store takes identifiers)."""
    return isinstance(value, str) and 0 < len(value) <= 64 and printable(value) and not value.startswith("$")


def subscriber_fields(item: Mapping[str, Any], *, new: bool) -> dict[str, Any]:
    """The checked fields of one subscriber; ``BadRequest`` naming the first bad field. A new subscriber
    needs a meter ID as well as its customer number."""
    refuse_unknown(item, FIELDS)
    fields: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 200 or not printable(value):
            raise BadRequest(f"{name} must be a string of at most 200 printable characters")
        fields[name] = value
    for name in ("customer_no", "meter_id") if new else ("customer_no",):
        if not key_text(fields.get(name)):
            raise BadRequest(f"{name} is required: 1 to 64 printable characters, not starting with '$'")
    if "meter_id" in fields and not key_text(fields["meter_id"]):
        raise BadRequest("meter_id must be 1 to 64 printable characters, not starting with '$'")
    if fields.get("share_house") not in (None, *SHARE_HOUSE):
        raise BadRequest("share_house must be O or X")
    if item.get("checked") is not None:
        if not isinstance(item["checked"], bool):
            raise BadRequest("checked must be true or false")
        fields["checked"] = item["checked"]
    return fields


async def save_subscriber(store: Store, tenant: str, fields: Mapping[str, Any]) -> bool:
    """Create or update; a new subscriber starts unbound. True when it was new."""
    created: bool = await store.upsert_subscriber(tenant, fields)
    if created:
        await store.upsert_subscriber(tenant, {"customer_no": fields["customer_no"], **_UNBOUND})
    return created


async def tenant_subscriber(request: Request, tenant: str) -> tuple[str, dict[str, Any]]:
    customer_no = request.path_params["customer_no"]
    found = await request.app.state.store.get_subscriber(tenant, customer_no) if key_text(customer_no) else None
    if found is None:
        raise NotFound(f"no subscriber {customer_no!r} in your tenant")
    return customer_no, found


# --------------------------------------------------------------------------- one subscriber


async def list_subscribers(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    page = PageRequest.from_request(request)
    filters: dict[str, Any] = {}
    any_of: dict[str, tuple[Any, ...]] = {}
    for name in ("meter_id", "bind_device_id", "subscriber_no"):
        value = query_str(request, name, 64)
        if value is not None:
            filters[name] = value
    binded = query_bool(request, "binded")
    if binded is True:
        filters["binded"] = True
    elif binded is False:
        any_of["binded"] = (False, None)  # rows stored before binding existed have no such field
    result = await request.app.state.store.list_subscribers(tenant, list_query(page, filters=filters, any_of=any_of))
    return paged_response(result.items, page.offset, page.limit, result.total)


async def get_subscriber(request: Request, caller: Principal) -> Response:
    _, subscriber = await tenant_subscriber(request, caller_tenant(caller))
    return JSONResponse({"ok": True, "subscriber": subscriber})


async def put_subscriber(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    store = request.app.state.store
    body = await read_json_object(request)
    customer_no = body.get("customer_no")
    existing = await store.get_subscriber(tenant, customer_no) if key_text(customer_no) else None
    fields = subscriber_fields(body, new=existing is None)
    created = await save_subscriber(store, tenant, fields)
    subscriber = await store.get_subscriber(tenant, fields["customer_no"])
    return JSONResponse({"ok": True, "created": created, "subscriber": subscriber}, status_code=201 if created else 200)


async def delete_subscriber(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    customer_no, subscriber = await tenant_subscriber(request, tenant)
    await release_device(request.app.state.store, tenant, customer_no, subscriber)
    await request.app.state.store.delete_subscriber(tenant, customer_no)
    return JSONResponse({"ok": True, "message": f"subscriber {customer_no} deleted"})


# --------------------------------------------------------------------------- import


def _csv_items(raw: bytes) -> list[dict[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV must be UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    if not reader.fieldnames:
        raise BadRequest("the CSV needs a header row naming the fields")
    reader.fieldnames = [name.strip() for name in reader.fieldnames]
    items: list[dict[str, Any]] = []
    try:
        for row in reader:
            if len(items) >= MAX_IMPORT_ROWS:
                raise BodyTooLarge(f"an import has at most {MAX_IMPORT_ROWS} rows")
            # an empty cell is a field left out; "checked" is written as text in a CSV file
            item = {key: value for key, value in row.items() if value not in ("", None)}
            if isinstance(item.get("checked"), str):
                word = item["checked"].strip().lower()
                item["checked"] = True if word in _TRUE else False if word in _FALSE else item["checked"]
            items.append(item)
    except csv.Error as error:
        raise BadRequest(f"the CSV cannot be read at line {reader.line_num}: {error}") from None
    return items


def _json_items(body: dict[str, Any]) -> list[Any]:
    refuse_unknown(body, ("items",))
    items = body.get("items")
    if not isinstance(items, list):
        raise BadRequest('the JSON body must be {"items": [subscriber, ...]}')
    if len(items) > MAX_IMPORT_ROWS:
        raise BodyTooLarge(f"an import has at most {MAX_IMPORT_ROWS} rows")
    return items


async def existing_customers(store: Store, tenant: str, customer_nos: list[str]) -> set[str]:
    """Which of ``customer_nos`` the tenant has already."""
    found: set[str] = set()
    for start in range(0, len(customer_nos), _IMPORT_BATCH):
        chunk = tuple(customer_nos[start : start + _IMPORT_BATCH])
        page = await store.list_subscribers(tenant, ListQuery(any_of={"customer_no": chunk}, limit=len(chunk)))
        found.update(item["customer_no"] for item in page.items)
    return found


def _record(row: int, item: Any, **extra: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {"row": row}
    for name in ("customer_no", "customer_name", "subscriber_no"):
        value = item.get(name) if isinstance(item, Mapping) else None
        shown[name] = value if isinstance(value, str) else None
    return {**shown, **extra}


async def import_subscribers(request: Request, caller: Principal) -> Response:
    """A CSV file (``text/csv``, a header row) or ``{"items": [...]}``; every row is reported as imported,
    duplicated (its customer number came earlier in the same file) or failed, with the reason. A record's
    ``row`` counts the items from 1 (in a CSV file: the first line under the header). A customer number the
    tenant has already is updated (``created: false``), its binding kept."""
    tenant = caller_tenant(caller)
    store = request.app.state.store
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == "text/csv":
        items: list[Any] = _csv_items(await read_limited_body(request, MAX_IMPORT_BYTES))
    elif media_type == "application/json":
        items = _json_items(await read_json_object(request, MAX_IMPORT_BYTES))
    else:
        raise UnsupportedMediaType("send the subscribers as text/csv (with a header row) or application/json")
    imported: list[dict[str, Any]] = []
    duplicated: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    accepted: dict[str, tuple[int, Mapping[str, Any], dict[str, Any]]] = {}
    for row, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            failed.append(_record(row, item, error="a row must be an object of subscriber fields"))
            continue
        if "\x00extra" in item:
            failed.append(_record(row, item, error="the row has more cells than the header names"))
            continue
        try:
            fields = subscriber_fields(item, new=True)
        except BadRequest as bad:
            failed.append(_record(row, item, error=str(bad)))
            continue
        if fields["customer_no"] in accepted:
            duplicated.append(_record(row, item, error=f"customer_no {fields['customer_no']} came earlier in the file"))
            continue
        accepted[fields["customer_no"]] = (row, item, fields)
    existing = await existing_customers(store, tenant, list(accepted))

    async def save(row: int, item: Mapping[str, Any], fields: dict[str, Any]) -> None:
        new = fields["customer_no"] not in existing
        try:
            await store.upsert_subscriber(tenant, {**fields, **_UNBOUND} if new else fields)
        except InvalidInput as refused:
            failed.append(_record(row, item, error=str(refused)))
        else:
            imported.append(_record(row, item, created=new))

    rows = list(accepted.values())
    for start in range(0, len(rows), _IMPORT_BATCH):  # concurrent writes share the store's commits
        await asyncio.gather(*(save(*row) for row in rows[start : start + _IMPORT_BATCH]))
    imported.sort(key=lambda record: record["row"])
    failed.sort(key=lambda record: record["row"])
    return JSONResponse(
        {
            "ok": True,
            "import_count": len(imported),
            "import_records": imported,
            "duplicated_count": len(duplicated),
            "duplicated_records": duplicated,
            "failed_count": len(failed),
            "failed_records": failed,
        }
    )


# --------------------------------------------------------------------------- binding


async def bindable_device(request: Request, caller: Principal, tenant: str, device_uid: str) -> dict[str, Any]:
    """The tenant's device ``device_uid`` (an installer: only one it installed); 404 otherwise."""
    device = await request.app.state.store.get_device(tenant, device_uid) if key_text(device_uid) else None
    if device is not None and caller.role == "installer" and not caller.system_admin:
        device = device if device.get("installer_id") == caller.login_id else None
    if device is None:
        raise NotFound(f"no device {device_uid!r} you may bind in your tenant")
    return device


async def release_device(store: Store, tenant: str, customer_no: str, subscriber: Mapping[str, Any]) -> None:
    """Take the subscriber's fields off the device it is bound to (if that device still names it)."""
    device_uid = subscriber.get("bind_device_id")
    if not isinstance(device_uid, str) or not key_text(device_uid):
        return
    device = await store.get_device(tenant, device_uid)
    if device is not None and device.get("customer_no") == customer_no:
        await store.update_device(tenant, device_uid, dict.fromkeys(DEVICE_COPIES))


async def bind(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    state = request.app.state
    customer_no, subscriber = await tenant_subscriber(request, tenant)
    body = await read_json_object(request)
    refuse_unknown(body, ("device_uid",))
    device_uid = body.get("device_uid")
    if not key_text(device_uid):
        raise BadRequest("device_uid is required")
    assert isinstance(device_uid, str)
    device = await bindable_device(request, caller, tenant, device_uid)
    bound_to = subscriber.get("bind_device_id")
    if subscriber.get("binded") is True and bound_to and bound_to != device_uid:
        raise Conflict(f"subscriber {customer_no} is bound to device {bound_to}; unbind it first")
    holder = device.get("customer_no")
    if holder and holder != customer_no:
        raise Conflict(f"device {device_uid} is bound to subscriber {holder}; unbind that one first")
    binding = {"bind_device_id": device_uid, "bind_date": local_string(state.clock(), state.config.tz), "binded": True}
    await state.store.upsert_subscriber(tenant, {"customer_no": customer_no, **binding})
    copies = {name: subscriber[name] for name in DEVICE_COPIES if subscriber.get(name) is not None}
    await state.store.update_device(tenant, device_uid, {**copies, "customer_no": customer_no})
    return JSONResponse({"ok": True, "subscriber": await state.store.get_subscriber(tenant, customer_no)})


async def unbind(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    store = request.app.state.store
    customer_no, subscriber = await tenant_subscriber(request, tenant)
    device_uid = subscriber.get("bind_device_id")
    if isinstance(device_uid, str) and device_uid:
        await bindable_device(request, caller, tenant, device_uid)
        await release_device(store, tenant, customer_no, subscriber)
    await store.upsert_subscriber(tenant, {"customer_no": customer_no, **_UNBOUND})
    return JSONResponse({"ok": True, "subscriber": await store.get_subscriber(tenant, customer_no)})


_SUBSCRIBER_BODY = {
    "type": "object",
    "required": ["customer_no"],
    "properties": {
        **{name: {"type": "string"} for name in TEXT_FIELDS},
        "share_house": {"type": "string", "enum": list(SHARE_HOUSE)},
        "checked": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_PAGING = [
    *PAGE_PARAMS,
]

ROUTES = [
    ApiRoute(
        "/api/v1/subscribers",
        list_subscribers,
        methods=["GET"],
        permission="subscribers.read",
        summary="The tenant's subscribers",
        query=[
            Param("meter_id", "only the subscriber of this meter"),
            Param("subscriber_no", "only this subscriber number"),
            Param("binded", "only bound (true) or unbound (false) subscribers", {"type": "boolean"}),
            Param("bind_device_id", "only the subscriber bound to this device"),
            Param("q", "search customer number, name, meter ID and subscriber number"),
            *_PAGING,
        ],
        tags=["subscribers"],
    ),
    ApiRoute(
        "/api/v1/subscribers",
        put_subscriber,
        methods=["POST"],
        permission="subscribers.manage",
        summary="Create a subscriber (customer_no and meter_id required) or update the given fields of one",
        body=_SUBSCRIBER_BODY,
        tags=["subscribers"],
    ),
    ApiRoute(
        "/api/v1/subscribers/import",
        import_subscribers,
        methods=["POST"],
        permission="subscribers.manage",
        summary="Import subscribers from CSV (a header row) or JSON {items: [...]}, at most 5000 rows and 2 MB; "
        "a report of every row",
        body={"type": "object", "properties": {"items": {"type": "array", "items": _SUBSCRIBER_BODY}}},
        tags=["subscribers"],
    ),
    ApiRoute(
        "/api/v1/subscribers/{customer_no}",
        get_subscriber,
        methods=["GET"],
        permission="subscribers.read",
        summary="One subscriber",
        tags=["subscribers"],
    ),
    ApiRoute(
        "/api/v1/subscribers/{customer_no}",
        delete_subscriber,
        methods=["DELETE"],
        permission="subscribers.manage",
        summary="Delete a subscriber (its device is unbound)",
        tags=["subscribers"],
    ),
    ApiRoute(
        "/api/v1/subscribers/{customer_no}/bind",
        bind,
        methods=["POST"],
        permission="subscribers.bind",
        summary="Bind a subscriber to one of the tenant's devices (an installer: one it installed)",
        body={"type": "object", "required": ["device_uid"], "properties": {"device_uid": {"type": "string"}}},
        tags=["subscribers"],
    ),
    ApiRoute(
        "/api/v1/subscribers/{customer_no}/unbind",
        unbind,
        methods=["POST"],
        permission="subscribers.bind",
        summary="Unbind a subscriber from its device",
        tags=["subscribers"],
    ),
]
