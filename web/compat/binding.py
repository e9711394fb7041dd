"""Binding subscribers to devices, shared by ``device`` (modify, bind, unbind, delete) and ``subscriber``
(bind), with the REST API's rule of what a binding writes (:mod:`web.api.subscribers`): the subscriber
records the device and the local date-time, the device gets the subscriber's data, and a device a
subscriber leaves loses that data again.

Unlike the REST API, which refuses to bind a subscriber or a device that is bound already, a bind here
moves the binding, as the original clients expect (they rebind without unbinding first).
"""

from __future__ import annotations

import functools
from typing import Any

from core.store import ListQuery
from core.timeutil import local_string
from web.api.subscribers import DEVICE_COPIES, release_device
from web.compat.context import Call, all_items

UNBOUND = {"bind_device_id": None, "bind_date": None, "binded": False}


async def bind(call: Call, subscriber: dict[str, Any], device_uid: str, bind_date: str | None = None) -> str:
    """Bind ``subscriber`` to ``device_uid`` (which the caller may see); returns the bind date."""
    customer_no = subscriber["customer_no"]
    when = bind_date or local_string(call.now(), call.tz)
    if subscriber.get("bind_device_id") not in (None, device_uid):
        await release_device(call.store, call.tenant, customer_no, subscriber)
    await call.store.upsert_subscriber(
        call.tenant, {"customer_no": customer_no, "bind_device_id": device_uid, "bind_date": when, "binded": True}
    )
    copies = {name: subscriber[name] for name in DEVICE_COPIES if subscriber.get(name) is not None}
    await call.store.update_device(call.tenant, device_uid, {**copies, "customer_no": customer_no})
    return when


async def subscribers(call: Call, filters: dict[str, Any]) -> list[dict[str, Any]]:
    items, _ = await all_items(functools.partial(call.store.list_subscribers, call.tenant), ListQuery(filters=filters))
    return items


async def unbind(call: Call, filters: dict[str, Any], keep: str | None = None) -> None:
    """Unbind the subscribers matching ``filters`` (but ``keep``, a customer number) from their devices."""
    for subscriber in await subscribers(call, filters):
        if subscriber["customer_no"] != keep:
            await release_device(call.store, call.tenant, subscriber["customer_no"], subscriber)
            await call.store.upsert_subscriber(call.tenant, {"customer_no": subscriber["customer_no"], **UNBOUND})
