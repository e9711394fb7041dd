"""The weighing log in the REST API: ``GET /api/v1/weighings`` and ``GET /api/v1/cylinders/{no}/weighings``.

A caller with a tenant sees the weighings of its tenant and the shared ones (those of no tenant); a
caller without one (a system-wide token) sees them all. Weights are exact decimals (``53.20`` stays
``53.20``); ``committed_at`` and ``received_at`` are ISO 8601 with the configured UTC offset, as the
scale-gateway contract writes them. The anomaly rule of a cylinder's history is
:mod:`plugins.fg150kal.anomalies`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.api import (
    PAGE_PARAMS,
    ApiRoute,
    BadRequest,
    ListQuery,
    PageRequest,
    Param,
    Principal,
    iso,
    paged_response,
    query_str,
    query_time,
)
from plugins.fg150kal import anomalies
from plugins.fg150kal.routes import EVENT_TYPES, check_text, two_decimals

#: fields of a weighing record the API shows, in this order
FIELDS = (
    "id",
    "scale_id",
    "cylinder_no",
    "event_type",
    "gross_kg",
    "raw_line",
    "received_at",
    "committed_at",
    "arrival_shipping_no",
    "move_report_no",
    "tenant",
)
LISTING_SORTS = ("id", "committed_at")
#: the newest weighings of one cylinder its history reads at most
MAX_HISTORY = 10_000
_STORE_PAGE = 1000


def weighing_item(record: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    """A stored weighing as the API shows it."""
    item: dict[str, Any] = {name: record.get(name) for name in FIELDS}
    if item["gross_kg"] is not None:
        item["gross_kg"] = two_decimals(item["gross_kg"])
    for name in ("received_at", "committed_at"):
        moment = item[name]
        if moment is not None:
            item[name] = iso(float(moment), tz)
    return item


def visible(caller: Principal) -> dict[str, tuple[str | None, ...]]:
    """``ListQuery.any_of`` keeping the weighings ``caller`` may see."""
    return {} if caller.tenant is None else {"tenant": (caller.tenant, None)}


def _event_type(request: Request) -> str | None:
    event_type = query_str(request, "event_type", 16)
    if event_type is not None and event_type not in EVENT_TYPES:
        raise BadRequest(f"query parameter event_type must be SHIP or RETURN, got {event_type!r}")
    return event_type


def _text_filter(request: Request, name: str) -> str | None:
    value = query_str(request, name, 100)
    return None if value is None else check_text(value, name, True)


async def list_weighings(request: Request, caller: Principal) -> Response:
    """The weighing log, newest first unless ``sort`` says otherwise."""
    state = request.app.state
    tz = state.config.tz
    page = PageRequest.from_request(request)
    if page.sort is not None and page.sort not in LISTING_SORTS:
        raise BadRequest(f"query parameter sort must be one of {', '.join(LISTING_SORTS)} (- for descending)")
    filters: dict[str, str] = {}
    for name in ("cylinder_no", "scale_id"):
        value = _text_filter(request, name)
        if value is not None:
            filters[name] = value
    event_type = _event_type(request)
    if event_type is not None:
        filters["event_type"] = event_type
    low, high = query_time(request, "from", tz), query_time(request, "to", tz)
    ranges: dict[str, tuple[float | None, float | None]] = {}
    if low is not None or high is not None:
        ranges["committed_at"] = (low, high)
    result = await state.store.search_weighings(
        ListQuery(
            filters=filters,
            ranges=ranges,
            any_of=visible(caller),
            search=page.search,
            sort=page.sort or "id",
            descending=page.descending if page.sort else True,
            limit=page.limit,
            offset=page.offset,
        )
    )
    items = [weighing_item(record, tz) for record in result.items]
    return paged_response(items, page.offset, page.limit, result.total)


async def cylinder_history(store: Any, cylinder_no: str, caller: Principal) -> list[dict[str, Any]]:
    """The cylinder's weighings ``caller`` may see (the newest ``MAX_HISTORY``), in time order."""
    records: list[dict[str, Any]] = []
    while len(records) < MAX_HISTORY:
        page = await store.search_weighings(
            ListQuery(
                filters={"cylinder_no": cylinder_no},
                any_of=visible(caller),
                sort="id",
                descending=True,
                limit=min(_STORE_PAGE, MAX_HISTORY - len(records)),
                offset=len(records),
            )
        )
        records.extend(page.items)
        if not page.items or len(records) >= page.total:
            break
    records.sort(key=lambda record: (float(record["committed_at"]), int(record["id"])))
    return records


async def cylinder_weighings(request: Request, caller: Principal) -> Response:
    """One cylinder's weighings in time order, each judged against its earlier ones, and its usual weights."""
    state = request.app.state
    tz = state.config.tz
    cylinder_no = check_text(request.path_params["no"], "cylinder number", True)
    assert cylinder_no is not None  # required
    page = PageRequest.from_request(request)
    if page.sort not in (None, "committed_at"):
        raise BadRequest("query parameter sort must be committed_at (-committed_at: newest first)")
    if page.search is not None:
        raise BadRequest("query parameter q is not taken here: the path names the cylinder")
    event_type = _event_type(request)
    records = await cylinder_history(state.store, cylinder_no, caller)
    items = []
    for record, judgement in zip(records, anomalies.judge_history(records), strict=True):
        if event_type is not None and record.get("event_type") != event_type:
            continue
        item = weighing_item(record, tz)
        item["anomaly"] = judgement.anomaly
        item["anomaly_reason"] = judgement.reason
        item["baseline"] = judgement.baseline.as_dict() if judgement.baseline else None
        item["deviation_kg"] = judgement.deviation_kg
        items.append(item)
    if page.descending:
        items.reverse()
    shown = items[page.offset : page.offset + page.limit]
    usual = anomalies.usual_weights(records, EVENT_TYPES)
    return paged_response(shown, page.offset, page.limit, len(items), cylinder_no=cylinder_no, usual=usual)


_LISTING_QUERY = [
    Param("cylinder_no", "this cylinder number only (exact)"),
    Param("q", "cylinder numbers containing this text (case-insensitive)"),
    Param("event_type", "SHIP or RETURN", {"type": "string", "enum": list(EVENT_TYPES)}),
    Param("scale_id", "weighings of this scale only"),
    Param("from", "committed at or after (epoch seconds or ISO 8601)"),
    Param("to", "committed before (epoch seconds or ISO 8601)"),
    Param("sort", "id or committed_at, - for descending (default -id: newest first)"),
    *PAGE_PARAMS,
]
_HISTORY_QUERY = [
    Param("event_type", "SHIP or RETURN only (each is judged against its own type either way)"),
    Param("sort", "committed_at (default, oldest first) or -committed_at"),
    *PAGE_PARAMS,
]
_HISTORY_DESCRIPTION = (
    "Each weighing is compared with the cylinder's earlier weighings of the same event_type (SHIP and "
    "RETURN weigh differently): the median of up to the last 10 of them. With fewer than 3 earlier ones it is "
    "not judged (anomaly false, baseline null). Otherwise the tolerance is the largest of 1.00 kg, 5 % of the "
    "median and 4.4478 x the median absolute deviation (three robust standard deviations), rounded up to the cent, "
    "and the weighing is an anomaly when |gross_kg - median| exceeds it; anomaly_reason then says by how much. "
    "Only weighings the caller may see are compared. usual gives, per event type, the count and the baseline "
    "the next weighing will be judged against. At most the newest 10000 weighings of a cylinder are read."
)


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(
            "/api/v1/weighings",
            list_weighings,
            methods=["GET"],
            permission="weighings.read",
            summary="The weighing log: search by cylinder, event type, scale and time",
            query=_LISTING_QUERY,
            tags=["weighings"],
        ),
        ApiRoute(
            "/api/v1/cylinders/{no}/weighings",
            cylinder_weighings,
            methods=["GET"],
            permission="weighings.read",
            summary="A cylinder's weighings in time order, each flagged when unusual for it",
            description=_HISTORY_DESCRIPTION,
            query=_HISTORY_QUERY,
            tags=["weighings"],
        ),
    ]
