"""What the tenant's devices reported: readings, usage, events and the measurements of other device types.

Every listing is limited to the caller's tenant; an installer sees only what its own devices reported
(:func:`web.api.devices.installer_scope`). A device's own routes answer 404 for a device the caller may not
see. Times in the query (``from``, ``to``) are epoch seconds or ISO 8601 (without an offset, in the
configured time zone ``config.tz``), ``from`` included and ``to`` excluded; ``at`` and ``start`` in the
answers are ISO 8601 in that zone.

An installer's tenant-wide listings (``/api/v1/events``, ``/api/v1/measurements``) are filtered with
``any_of`` on its devices' uids. The store takes at most :data:`MAX_ANY_OF` values in one ``any_of``, so for
an installer with more devices each group of uids is listed on its own and the groups' first pages are
merged in order: such a listing pages through its first :data:`MAX_PAGE` items only (a later page is 400:
narrow it with ``device_uid`` or ``from``/``to``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.http import MAX_PAGE, BadRequest, JSONResponse, PageRequest, paged_response, query_str, query_time
from core.routing import PAGE_PARAMS, ApiRoute, Param, caller_tenant
from core.security.roles import Principal
from core.store import USAGE_BUCKETS, ListQuery, Page, Store
from core.store.listings import LISTINGS
from core.store.usage import bucket_of, check_bucket
from core.store.validation import MAX_ANY_OF
from core.timeutil import iso
from web.api.devices import device_for, installer_scope

#: the most devices an installer's tenant-wide listing gathers
MAX_SCOPED_DEVICES = 100 * MAX_ANY_OF
#: the most buckets one usage request may span
MAX_BUCKETS = 10_000
#: the shortest length of each bucket (the configured zone is a fixed offset, so a day is always 86400 s)
BUCKET_SECONDS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 28 * 86400, "year": 365 * 86400}
#: how far back a usage request without ``from`` reaches
DEFAULT_USAGE_SPAN = {"hour": 86400, "day": 31 * 86400, "week": 12 * 7 * 86400, "month": 366 * 86400}
DEFAULT_USAGE_SPAN["year"] = 10 * 366 * 86400


def _tz(request: Request) -> tzinfo:
    tz: tzinfo = request.app.state.config.tz
    return tz


def _epoch(value: float | None) -> int | float | None:
    """Integral times as ints, so an int field compares with an int."""
    if value is not None and value.is_integer():
        return int(value)
    return value


def time_range(request: Request) -> tuple[int | float | None, int | float | None]:
    """The ``from``/``to`` query parameters; 400 when ``from`` is not before ``to``."""
    tz = _tz(request)
    low, high = _epoch(query_time(request, "from", tz)), _epoch(query_time(request, "to", tz))
    if low is not None and high is not None and low >= high:
        raise BadRequest("query parameter from must be before to")
    return low, high


def list_query(page: PageRequest, filters: dict[str, Any], ranges: dict[str, Any] | None = None) -> ListQuery:
    """A store query of ``page`` with ``filters`` (those given only) and the ``ranges`` given."""
    return ListQuery(
        filters={name: value for name, value in filters.items() if value is not None},
        ranges={name: bounds for name, bounds in (ranges or {}).items() if bounds != (None, None)},
        sort=page.sort,
        descending=page.descending,
        limit=page.limit,
        offset=page.offset,
        search=page.search,
    )


async def installer_devices(store: Store, tenant: str, login_id: str) -> list[str]:
    """The uids of the devices ``login_id`` installed (400 past :data:`MAX_SCOPED_DEVICES`)."""
    uids: list[str] = []
    while True:
        query = ListQuery(filters={"installer_id": login_id}, sort="device_uid", limit=MAX_PAGE, offset=len(uids))
        found = await store.list_devices(tenant, query)
        uids.extend(device["device_uid"] for device in found.items)
        if found.total > MAX_SCOPED_DEVICES:
            raise BadRequest(f"you have more than {MAX_SCOPED_DEVICES} devices: filter by device_uid")
        if not found.items or len(uids) >= found.total:
            return uids


Lister = Callable[[ListQuery], Awaitable[Page]]


async def scoped_listing(listing: str, fetch: Lister, query: ListQuery, field: str, values: list[str]) -> Page:
    """``fetch(query)`` limited to items whose ``field`` is one of ``values`` (see the module docstring)."""
    if not values:
        return Page([], 0)
    groups = [tuple(values[start : start + MAX_ANY_OF]) for start in range(0, len(values), MAX_ANY_OF)]
    if len(groups) == 1:
        return await fetch(dataclasses.replace(query, any_of={field: groups[0]}))
    reach = query.offset + query.limit
    if reach > MAX_PAGE:
        raise BadRequest(f"this listing pages through its first {MAX_PAGE} items only: narrow it (device_uid, from/to)")
    items: list[dict[str, Any]] = []
    total = 0
    for group in groups:
        found = await fetch(dataclasses.replace(query, any_of={field: group}, offset=0, limit=reach))
        items.extend(found.items)
        total += found.total
    key, descending = LISTINGS[listing].order(query)
    items.sort(key=lambda item: (item.get(key) is not None, item.get(key)), reverse=descending)
    return Page(items[query.offset : reach], total)


# --------------------------------------------------------------------------- one device


async def list_readings(request: Request, caller: Principal) -> Response:
    uid = request.path_params["uid"]
    tenant, _ = await device_for(request, caller, uid)
    page = PageRequest.from_request(request)
    query = list_query(page, {"device_uid": uid}, {"timestamp": time_range(request)})
    found = await request.app.state.store.list_readings(tenant, query)
    tz = _tz(request)
    items = [
        {"timestamp": row["timestamp"], "at": iso(row["timestamp"], tz), "count": row["counter_val"]}
        for row in found.items
    ]
    return paged_response(items, page.offset, page.limit, found.total)


def usage_range(request: Request, bucket: str) -> tuple[int, int]:
    """``[start, end)`` of a usage request, widened to whole buckets; 400 past :data:`MAX_BUCKETS`."""
    tz = _tz(request)
    low, high = time_range(request)
    end = int(high if high is not None else request.app.state.clock())
    start = int(low if low is not None else end - DEFAULT_USAGE_SPAN[bucket])
    if start >= end:
        raise BadRequest("query parameter from must be before to")
    start = int(bucket_of(start, bucket, tz)[1].timestamp())
    _, last_start, last_end = bucket_of(end, bucket, tz)
    if int(last_start.timestamp()) != end:
        end = int(last_end.timestamp())
    if (end - start) / BUCKET_SECONDS[bucket] > MAX_BUCKETS:
        raise BadRequest(f"the range spans more than {MAX_BUCKETS} {bucket} buckets: narrow from/to")
    return start, end


async def device_usage(request: Request, caller: Principal) -> Response:
    uid = request.path_params["uid"]
    tenant, _ = await device_for(request, caller, uid)
    bucket = check_bucket(query_str(request, "bucket", 10) or "day")
    start, end = usage_range(request, bucket)
    tz = _tz(request)
    rows = await request.app.state.store.usage(tenant, uid, bucket, start, end, tz)
    items = []
    for row in rows:
        item = {
            "start": iso(row["start"], tz),
            "end": iso(row["end"], tz),
            "label": row["label"],
            "usage": row["usage"],
            "readings": row["readings"],
            "first_count": row["first_count"],
            "last_count": row["last_count"],
        }
        if row.get("resets"):
            item.update(reset=True, resets=row["resets"])
        items.append(item)
    return JSONResponse(
        {
            "ok": True,
            "device_uid": uid,
            "bucket": bucket,
            "from": iso(start, tz),
            "to": iso(end, tz),
            "total_usage": sum(item["usage"] for item in items),
            "items": items,
        }
    )


# --------------------------------------------------------------------------- events


def _event_view(event: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    moment = event.get("event_time")
    at = iso(moment, tz) if isinstance(moment, (int, float)) and not isinstance(moment, bool) else None
    return {**event, "at": at}


def _events_query(request: Request, page: PageRequest, device_uid: str | None) -> ListQuery:
    filters = {
        "device_uid": device_uid,
        "event_type": query_str(request, "event_type"),
        "event_status": query_str(request, "event_status"),
    }
    return list_query(page, filters, {"event_time": time_range(request)})


async def device_events(request: Request, caller: Principal) -> Response:
    uid = request.path_params["uid"]
    tenant, _ = await device_for(request, caller, uid)
    page = PageRequest.from_request(request)
    found = await request.app.state.store.list_events(tenant, _events_query(request, page, uid))
    tz = _tz(request)
    return paged_response([_event_view(e, tz) for e in found.items], page.offset, page.limit, found.total)


async def _installer_values(request: Request, caller: Principal, tenant: str, asked: str | None) -> list[str] | None:
    """The device uids an installer's listing is limited to (only ``asked`` when it names one of them);
    None for a caller who sees the whole tenant."""
    own = installer_scope(caller)
    if own is None:
        return None
    uids = await installer_devices(request.app.state.store, tenant, own)
    if asked is not None:
        return [asked] if asked in uids else []
    return uids


async def list_events(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    page = PageRequest.from_request(request)
    asked = query_str(request, "device_uid")
    query = _events_query(request, page, asked)
    store: Store = request.app.state.store
    scope = await _installer_values(request, caller, tenant, asked)
    if scope is None:
        found = await store.list_events(tenant, query)
    else:

        async def fetch(scoped: ListQuery) -> Page:
            return await store.list_events(tenant, scoped)

        found = await scoped_listing("events", fetch, query, "device_uid", scope)
    tz = _tz(request)
    return paged_response([_event_view(e, tz) for e in found.items], page.offset, page.limit, found.total)


# --------------------------------------------------------------------------- measurements


async def list_measurements(request: Request, caller: Principal) -> Response:
    """Measurements of the tenant (an installer: of device ids that are its devices' uids)."""
    tenant = caller_tenant(caller)
    page = PageRequest.from_request(request)
    asked = query_str(request, "device_id")
    filters = {"tenant": tenant, "device_type": query_str(request, "device_type"), "device_id": asked}
    query = list_query(page, filters, {"at": time_range(request)})
    store: Store = request.app.state.store
    scope = await _installer_values(request, caller, tenant, asked)
    if scope is None:
        found = await store.list_measurements(query)
    else:
        found = await scoped_listing("measurements", store.list_measurements, query, "device_id", scope)
    return paged_response(found.items, page.offset, page.limit, found.total)


_PAGING = [
    *PAGE_PARAMS,
]
_TIMES = [
    Param("from", "from this time (epoch seconds or ISO 8601), included"),
    Param("to", "until this time (epoch seconds or ISO 8601), excluded"),
]
_EVENT_FILTERS = [Param("event_type", "only events of this type"), Param("event_status", "only events in this status")]

ROUTES = [
    ApiRoute(
        "/api/v1/devices/{uid}/readings",
        list_readings,
        methods=["GET"],
        permission="data.read",
        summary="A device's hourly counter snapshots: timestamp, at (ISO 8601), count",
        query=[*_TIMES, Param("sort", "timestamp or -timestamp"), *_PAGING],
        tags=["data"],
    ),
    ApiRoute(
        "/api/v1/devices/{uid}/usage",
        device_usage,
        methods=["GET"],
        permission="data.read",
        summary="A device's consumption per hour, day, week, month or year in the configured time zone",
        query=[
            Param(
                "bucket", "hour, day (default), week, month or year", {"type": "string", "enum": list(USAGE_BUCKETS)}
            ),
            *_TIMES,
        ],
        tags=["data"],
    ),
    ApiRoute(
        "/api/v1/devices/{uid}/events",
        device_events,
        methods=["GET"],
        permission="data.read",
        summary="A device's events",
        query=[*_EVENT_FILTERS, *_TIMES, Param("sort", "event_time or -event_time"), *_PAGING],
        tags=["data"],
    ),
    ApiRoute(
        "/api/v1/events",
        list_events,
        methods=["GET"],
        permission="data.read",
        summary="The events of the tenant's devices (an installer: of its own devices)",
        query=[
            Param("device_uid", "only this device's events"),
            *_EVENT_FILTERS,
            *_TIMES,
            Param("sort", "event_time or -event_time"),
            *_PAGING,
        ],
        tags=["data"],
    ),
    ApiRoute(
        "/api/v1/measurements",
        list_measurements,
        methods=["GET"],
        permission="data.read",
        summary="The tenant's measurements of device types that are not counted in readings",
        query=[
            Param("device_type", "only this device type"),
            Param("device_id", "only this device"),
            *_TIMES,
            Param("sort", "at or -at"),
            *_PAGING,
        ],
        tags=["data"],
    ),
]
