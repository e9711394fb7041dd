"""``subscriber`` (list, view, modify, delete, bind, import) and the v2 pages that map to it
(``subscriber_data``, ``database`` on table ``subscriber``).

v3 had list and view; modify, delete, bind and import were mocks that wrote nothing. Here all of them
work on the caller's tenant: reading needs ``subscribers.read``, changing ``subscribers.manage``, binding
``subscribers.bind`` (and a device the caller may see).
"""

from __future__ import annotations

import functools
from typing import Any

from core.store import ListQuery
from core.store.listings import LISTINGS
from web.compat import binding
from web.compat.context import Call, all_items
from web.compat.envelope import NOT_FOUND, Refused, Reply, bad_request, listing, row
from web.compat.fields import subscriber_fields
from web.compat.inputs import equality_filter, field_names, identifier, object_of

SUBSCRIBER_FILTERS = frozenset(LISTINGS["subscribers"].filters)
MAX_IMPORT = 5000


async def list_subscribers(call: Call) -> Reply:
    fields = field_names(call.body)
    filters = equality_filter(call.body, SUBSCRIBER_FILTERS)
    listed = functools.partial(call.store.list_subscribers, call.tenant)
    items, total = await all_items(listed, ListQuery(filters=filters))
    return listing([row(item, fields, call.tz) for item in items], total)


async def _find(call: Call, meter_id: str | None, customer_no: str | None) -> dict[str, Any] | None:
    if customer_no:
        return await call.store.get_subscriber(call.tenant, customer_no)
    if meter_id:
        query = ListQuery(filters={"meter_id": meter_id}, limit=1)
        page = await call.store.list_subscribers(call.tenant, query)
        return page.items[0] if page.items else None
    return None


async def view_subscriber(call: Call) -> Reply:
    """By ``meter_id`` as the original (or by ``customer_no``); ``{}`` when there is none."""
    found = await _find(call, identifier(call.body, "meter_id"), identifier(call.body, "customer_no"))
    return {"code": 200, "data": {} if found is None else row(found, field_names(call.body), call.tz)}


async def modify_subscriber(call: Call) -> Reply:
    data = object_of(call.body, "data") or {}
    customer_no = identifier(call.body, "customer_no") or identifier(data, "customer_no")
    changes = subscriber_fields({key: value for key, value in data.items() if key != "customer_no"})
    if not customer_no or not changes:
        raise bad_request("데이터베이스 이름, 고객 번호, 수정할 데이터가 필요합니다.")
    if await call.store.get_subscriber(call.tenant, customer_no) is None:
        return {"code": 200, "data": {"modified_count": 0}}
    await call.store.upsert_subscriber(call.tenant, {"customer_no": customer_no, **changes})
    return {"code": 200, "data": {"modified_count": 1}}


async def delete_subscriber(call: Call) -> Reply:
    customer_no = identifier(call.body, "customer_no") or identifier(object_of(call.body, "data") or {}, "customer_no")
    if not customer_no:
        raise bad_request("데이터베이스 이름과 고객 번호가 필요합니다.")
    deleted = await call.store.delete_subscriber(call.tenant, customer_no)
    return {"code": 200, "data": {"deleted_count": int(deleted)}}


async def bind_subscriber(call: Call) -> Reply:
    """The subscriber ``customer_no`` (its meter ``meter_id``) is bound to ``device_uid``, which gets
    the subscriber's data; a subscriber bound to that device before is unbound."""
    body = call.body
    customer_no = identifier(body, "customer_no")
    meter_id = identifier(body, "meter_id")
    device_uid = identifier(body, "device_uid")
    if not customer_no or not meter_id or not device_uid:
        raise bad_request("데이터베이스 이름, 고객 번호, 미터 ID, 장치 ID가 필요합니다.")
    subscriber = await call.store.get_subscriber(call.tenant, customer_no)
    if subscriber is None or await call.device(device_uid) is None:
        raise Refused(NOT_FOUND)
    await binding.unbind(call, {"bind_device_id": device_uid}, keep=customer_no)
    await call.store.upsert_subscriber(call.tenant, {"customer_no": customer_no, "meter_id": meter_id})
    bind_date = await binding.bind(call, {**subscriber, "meter_id": meter_id}, device_uid)
    await call.store.update_device(call.tenant, device_uid, {"meter_id": meter_id})
    return {"code": 200, "data": {"bind_date": bind_date, "binded": True}}


async def import_subscribers(call: Call) -> Reply:
    """New subscribers from ``data`` (a list); an existing customer number is reported as a duplicate
    and left as it is, an invalid item as failed, with the original's messages."""
    items = call.body.get("data")
    if not isinstance(items, list) or not items:
        raise bad_request("데이터베이스 이름과 가져올 데이터가 필요합니다.")
    if len(items) > MAX_IMPORT:
        raise bad_request(f"at most {MAX_IMPORT} subscribers per import")
    imported: list[Reply] = []
    duplicated: list[Reply] = []
    failed: list[Reply] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not item.get("customer_no"):
            failed.append({"error": "필수 필드 누락: customer_no"})
            continue
        summary = {name: item.get(name) for name in ("customer_no", "customer_name", "subscriber_no")}
        customer_no = item["customer_no"]
        if not isinstance(customer_no, str) or customer_no.startswith("$") or len(customer_no) > 256:
            failed.append({"customer_no": customer_no, "error": "유효하지 않은 데이터 형식: customer_no"})
            continue
        if customer_no in seen or await call.store.get_subscriber(call.tenant, customer_no) is not None:
            duplicated.append({**summary, "error": "중복된 고객 번호"})
            continue
        if not item.get("meter_id"):
            failed.append({"customer_no": customer_no, "error": "필수 필드 누락: meter_id"})
            continue
        if item.get("share_house") not in ("O", "X"):
            failed.append({"customer_no": customer_no, "error": "유효하지 않은 데이터 형식: share_house"})
            continue
        try:
            subscriber = subscriber_fields(item)
        except Refused as refused:
            failed.append({"customer_no": customer_no, "error": refused.reply.get("message")})
            continue
        seen.add(customer_no)
        await call.store.upsert_subscriber(call.tenant, {**subscriber, "binded": False})
        imported.append(summary)
    return {
        "code": 200,
        "data": {
            "import_count": len(imported),
            "import_records": imported,
            "duplicated_count": len(duplicated),
            "duplicated_records": duplicated,
            "failed_count": len(failed),
            "failed_records": failed,
        },
    }
