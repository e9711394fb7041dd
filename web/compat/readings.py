"""What the meters reported: ``usage`` (month-to-date usage per active device), ``data`` (readings),
``event`` (list, view), and the v2 pages ``usage_data`` (the raw hourly counts) and ``recv_data`` (the
received packets).

Everything is limited to the caller's tenant, and for an installer to the devices it installed. Times
are epoch seconds as stored; the calendar (the month start of ``usage``, the days of ``start_date`` and
``end_date``, the local time strings) is the configured time zone's (``timezone`` in the configuration),
never the host's.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from core.errors import NotFound
from core.store import ListQuery, Page
from core.store.listings import LISTINGS
from core.timeutil import local_string
from web.compat.context import MAX_ROWS, Call, all_items
from web.compat.envelope import Reply, bad_request, listing, row, shown
from web.compat.inputs import equality_filter, field_names, identifier, positive_int

EVENT_FILTERS = frozenset(LISTINGS["events"].filters)
#: device UIDs one store query may ask for at once (``ListQuery.any_of``)
ANY_OF_LIMIT = 100
MAX_PAGE_SIZE = 1000
USAGE_FIELDS = (
    "device_uid",
    "customer_name",
    "customer_no",
    "addr_prov",
    "addr_city",
    "addr_dist",
    "addr_detail",
    "addr_apt",
    "meter_id",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

Fetch = Callable[[ListQuery], Awaitable[Page]]


async def readable_devices(call: Call, requested: list[str] | None) -> list[str] | None:
    """The device UIDs a listing may cover: ``requested`` (None: every device of the tenant), for an
    installer only those among them it installed."""
    if not call.own_devices_only:
        return requested
    own, _ = await all_items(functools.partial(call.store.list_devices, call.tenant), call.device_query({}))
    uids = [device["device_uid"] for device in own]
    return uids if requested is None else [uid for uid in requested if uid in uids]


async def page_for_devices(fetch: Fetch, query: ListQuery, uids: list[str] | None, sort: str) -> tuple[list[Any], int]:
    """One page of ``query`` over the devices ``uids`` (None: all): a single store query for up to
    ``ANY_OF_LIMIT`` devices, else every chunk's rows (at most ``MAX_ROWS``) merged and paged here."""
    if uids is None:
        page = await fetch(query)
        return page.items, page.total
    if not uids:
        return [], 0
    if len(uids) == 1:
        page = await fetch(dataclasses.replace(query, filters={**query.filters, "device_uid": uids[0]}))
        return page.items, page.total
    if len(uids) <= ANY_OF_LIMIT:
        page = await fetch(dataclasses.replace(query, any_of={"device_uid": tuple(uids)}))
        return page.items, page.total
    merged: list[dict[str, Any]] = []
    for start in range(0, len(uids), ANY_OF_LIMIT):
        chunk = dataclasses.replace(query, any_of={"device_uid": tuple(uids[start : start + ANY_OF_LIMIT])}, offset=0)
        items, _ = await all_items(fetch, chunk, MAX_ROWS - len(merged))
        merged.extend(items)
    merged.sort(key=lambda item: item.get(sort) or 0, reverse=query.descending)
    return merged[query.offset : query.offset + query.limit], len(merged)


def _uid_list(call: Call) -> list[str] | None:
    value = call.body.get("device_uids")
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) > MAX_ROWS:
        raise bad_request("device_uids must be a list of device UIDs")
    return [uid for uid in (identifier({"device_uid": item}, "device_uid") for item in value) if uid]


def _day_start(call: Call, name: str, following: bool = False) -> int | None:
    """``start_date``/``end_date``: a local ``YYYY-MM-DD`` (the end day included) or epoch seconds."""
    value = call.body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    try:
        day = datetime.strptime(str(value)[:10], "%Y-%m-%d").replace(tzinfo=call.tz)
    except ValueError:
        raise bad_request(f"{name} must be YYYY-MM-DD or epoch seconds, got {value!r}") from None
    return int((day + timedelta(days=1 if following else 0)).timestamp())


def _paging(call: Call) -> tuple[int, int]:
    return positive_int(call.body, "page", 1, 10**6), positive_int(call.body, "page_size", 10, MAX_PAGE_SIZE)


def _paged(items: list[Reply], total: int, page: int, page_size: int) -> Reply:
    return listing(items, total, page=page, page_size=page_size, total_pages=(total + page_size - 1) // page_size)


async def list_data(call: Call) -> Reply:
    """v3 data list (a mock there): the readings of ``device_uids`` between ``start_date`` and
    ``end_date``, oldest first, ``page`` by ``page_size``."""
    page, page_size = _paging(call)
    start, end = _day_start(call, "start_date"), _day_start(call, "end_date", following=True)
    ranges = {"timestamp": (start, end)} if start is not None or end is not None else {}
    query = ListQuery(ranges=ranges, sort="timestamp", limit=page_size, offset=(page - 1) * page_size)
    uids = await readable_devices(call, _uid_list(call))
    fetch = functools.partial(call.store.list_readings, call.tenant)
    items, total = await page_for_devices(fetch, query, uids, "timestamp")
    fields = field_names(call.body)
    return _paged([row(item, fields, call.tz) for item in items], total, page, page_size)


def _event_row(event: dict[str, Any], fields: list[str], call: Call) -> Reply:
    when = event.get("event_time")
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        event = {**event, "event_time": local_string(when, call.tz)}
    return row(event, fields, call.tz)


async def list_events(call: Call) -> Reply:
    """v3 event list (a mock there): the tenant's events, newest first; ``filter`` is equality on
    ``device_uid``, ``event_type`` or ``event_status``."""
    page, page_size = _paging(call)
    filters = equality_filter(call.body, EVENT_FILTERS)
    requested = [filters.pop("device_uid")] if "device_uid" in filters else None
    uids = await readable_devices(call, requested)
    query = ListQuery(
        filters=filters, sort="event_time", descending=True, limit=page_size, offset=(page - 1) * page_size
    )
    items, total = await page_for_devices(
        functools.partial(call.store.list_events, call.tenant), query, uids, "event_time"
    )
    fields = field_names(call.body)
    return _paged([_event_row(item, fields, call) for item in items], total, page, page_size)


async def view_event(call: Call) -> Reply:
    event_id = identifier(call.body, "event_id")
    if not event_id:
        raise bad_request("데이터베이스 이름과 이벤트 ID가 필요합니다.")
    try:
        page = await call.store.browse(call.tenant, "event", ListQuery(filters={"event_id": event_id}, limit=1))
    except NotFound:
        page = Page([], 0)
    event = page.items[0] if page.items else None
    if event is not None and call.own_devices_only and await call.device(str(event.get("device_uid"))) is None:
        event = None
    return {"code": 200, "data": None if event is None else _event_row(event, field_names(call.body), call)}


# --------------------------------------------------------------------------- usage


def month_start(call: Call) -> int:
    """00:00 on the first of the current month in the configured time zone, as epoch seconds."""
    today = datetime.fromtimestamp(call.now(), call.tz)
    return int(today.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp())


async def monthly_usage(call: Call) -> Reply:
    """v3 usage (§6.4): per active device, the count now (``last_count``) less the count of the newest
    reading at or before the month start. A device without subscriber data or without a count is listed
    with empty fields and usage 0; the original's ``cost`` (usage x 100, a hard-coded price) is not
    sent."""
    first = month_start(call)
    devices, total = await all_items(
        functools.partial(call.store.list_devices, call.tenant), call.device_query({"flag": True})
    )
    rows = []
    for device in devices:
        baseline = await call.store.list_readings(
            call.tenant,
            ListQuery(
                filters={"device_uid": device["device_uid"]},
                ranges={"timestamp": (None, first + 1)},
                sort="timestamp",
                descending=True,
                limit=1,
            ),
        )
        previous = baseline.items[0]["counter_val"] if baseline.items else None
        current = device.get("last_count")
        current = current if isinstance(current, int) and not isinstance(current, bool) else None
        usage = max(current - previous, 0) if current is not None and previous is not None else 0
        last_access = device.get("last_access")
        read_date = last_access[:10] if isinstance(last_access, str) and _DATE.match(last_access) else "-"
        entry = {name: shown(device.get(name), call.tz) or "" for name in USAGE_FIELDS}
        entry.update(prev_count=previous or 0, current_count=current or 0, read_date=read_date, usage=usage)
        rows.append(entry)
    return listing(rows, total)


async def usage_series(call: Call) -> Reply:
    """v2 getUsageData: the raw cumulative counts of one device (``daterange`` in epoch seconds,
    ``[from, to)``), oldest first; the server computes no usage, as in the original."""
    device_uid = identifier(call.body, "device_uid", required=True)
    assert device_uid is not None
    fields = field_names(call.body)
    ranges: dict[str, tuple[Any, Any]] = {}
    daterange = call.body.get("daterange")
    if daterange is not None:
        if not isinstance(daterange, list) or len(daterange) != 2:
            raise bad_request("daterange must be [from, to] in epoch seconds")
        bounds = [_epoch(bound) for bound in daterange]
        ranges["timestamp"] = (bounds[0], bounds[1])
    readings: list[dict[str, Any]] = []
    if await call.device(device_uid) is not None:
        query = ListQuery(filters={"device_uid": device_uid}, ranges=ranges, sort="timestamp")
        readings, _ = await all_items(functools.partial(call.store.list_readings, call.tenant), query)
    data = [{**dict.fromkeys(fields), **shown(reading, call.tz)} for reading in readings]
    return {"data": data, "elaspec_time": 0, "code": 200, "total_records": len(data), "elasped_time": call.elapsed()}


def _epoch(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"daterange bounds must be epoch seconds (numbers), got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- received packets

RECEIVED_LIMIT = 1000


async def received_data(call: Call) -> Reply:
    """v2 getRecvData: the exchange log, now only the caller's tenant's devices (the original returned
    every tenant's and every scanner's traffic), the newest ``RECEIVED_LIMIT`` entries; ``daterange`` is
    compared with the local ``datetime`` text as the original did."""
    ranges: dict[str, tuple[Any, Any]] = {}
    daterange = call.body.get("daterange")
    if daterange is not None:
        if not isinstance(daterange, list) or len(daterange) != 2 or not all(isinstance(b, str) for b in daterange):
            raise bad_request("daterange must be [from, to] as local date-time strings")
        ranges["datetime"] = (daterange[0] or None, daterange[1] or None)
    query = ListQuery(filters={"tenant": call.tenant}, ranges=ranges, limit=RECEIVED_LIMIT)
    page = await call.store.list_exchanges(query)
    keys = ("datetime", "recv", "data", "ip", "port", "recv_len", "send_len", "send", "device_uid")
    data = [{key: shown(entry.get(key), call.tz) for key in keys} for entry in page.items]
    return {"data": data, "elaspe_time": call.elapsed(), "code": 200, "total_record": page.total}
