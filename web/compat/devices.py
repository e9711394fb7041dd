"""``device`` (list, view, modify, bind, unbind, delete, release) and the v2 device pages that map to it
(``device_info``, ``install_device_info``, ``releaseproduct``).

Each of these was real in v2 or a mock in v3; all of them work on the store here, in the caller's tenant
only. An installer sees and changes only the devices it installed. A device's own reports (``last_*``,
``battery``, ...) are never taken from a client, and which fields a role may write is decided in
:mod:`web.compat.fields`.
"""

from __future__ import annotations

import functools
from typing import Any

from core.errors import Conflict
from core.store.listings import LISTINGS
from core.timeutil import local_string
from web.api.devices import UID_RE
from web.compat import binding
from web.compat.context import Call, all_items
from web.compat.envelope import NOT_FOUND, Refused, Reply, bad_request, listing, row
from web.compat.fields import INSTALL_FIELDS, device_changes
from web.compat.inputs import ENVELOPE_KEYS, equality_filter, field_names, identifier, object_of, text

DEVICE_FILTERS = frozenset(LISTINGS["devices"].filters)
MAX_RELEASE = 1000


def _source(call: Call) -> dict[str, Any]:
    """Where a write's fields are: v3 clients send them in ``data``, v2 clients at the top of the body."""
    data = object_of(call.body, "data")
    if data is not None:
        return data
    return {key: value for key, value in call.body.items() if key not in ENVELOPE_KEYS and key != "meter_id_org"}


def _uid(call: Call, source: dict[str, Any]) -> str | None:
    return identifier(call.body, "device_uid") or identifier(source, "device_uid")


async def list_devices(call: Call) -> Reply:
    """v2 listDevices / v3 list: the ``filter`` is equality on the listing's fields, merged under the
    installer restriction (which it cannot lift)."""
    fields = field_names(call.body)
    filters = equality_filter(call.body, DEVICE_FILTERS)
    device_uid = identifier(call.body, "device_uid")
    if device_uid:
        filters["device_uid"] = device_uid
    items, total = await all_items(functools.partial(call.store.list_devices, call.tenant), call.device_query(filters))
    return listing([row(device, fields, call.tz) for device in items], total, elasped_time=call.elapsed())


async def view_device(call: Call) -> Reply:
    fields = field_names(call.body)
    device_uid, meter_id = identifier(call.body, "device_uid"), identifier(call.body, "meter_id")
    if device_uid:
        device = await call.device(device_uid)
    elif meter_id:
        page = await call.store.list_devices(call.tenant, call.device_query({"meter_id": meter_id}, limit=1))
        device = page.items[0] if page.items else None
    else:
        return {"code": 200, "data": {}}
    return {"code": 200, "data": None if device is None else row(device, fields, call.tz)}


async def modify_device(call: Call) -> Reply:
    """v3 modify (fields in ``data``) and v2 updateDeviceInfo (fields at the top, the subscriber
    ``customer_no`` bound to the device and the one of ``meter_id_org`` unbound from it)."""
    source = _source(call)
    device_uid = _uid(call, source)
    fields = {key: value for key, value in source.items() if key != "device_uid"}
    if not device_uid or not fields:
        raise bad_request("데이터베이스 이름, 장치 ID, 수정할 데이터가 필요합니다.")
    changes = device_changes(fields, call.caller)
    old_meter = identifier(call.body, "meter_id_org")
    customer_no = changes.get("customer_no")
    if old_meter or customer_no:
        call.require("subscribers.bind")
    if await call.device(device_uid) is None:
        return {"code": 200, "elasped_time": call.elapsed(), "data": {"modified_count": 0}}
    installer_id = changes.get("installer_id")
    if installer_id and await call.store.get_user(call.tenant, installer_id) is None:
        raise bad_request(f"installer_id {installer_id!r} is not a user of your tenant")
    if changes:
        await call.store.update_device(call.tenant, device_uid, changes)
    if old_meter:
        await binding.unbind(call, {"meter_id": old_meter, "bind_device_id": device_uid}, keep=customer_no)
    subscriber = await call.store.get_subscriber(call.tenant, customer_no) if customer_no else None
    if subscriber is not None:
        await binding.unbind(call, {"bind_device_id": device_uid}, keep=customer_no)
        await binding.bind(call, subscriber, device_uid)
    return {"code": 200, "elasped_time": call.elapsed(), "data": {"modified_count": 1 if changes else 0}}


async def bind_device(call: Call) -> Reply:
    """v3 bind and v2 install (``install_device_info``): an active install records the install fields,
    sets ``flag`` and binds the subscribers of the meter; an inactive one (``flag: "inactive"``) sets
    ``flag: false`` and unbinds the device's subscribers."""
    call.require("subscribers.bind")
    source = _source(call)
    device_uid = _uid(call, source)
    active = device_changes({"flag": source.get("flag", True)}, call.caller)["flag"]
    meter_id = identifier(source, "meter_id")
    if not device_uid or (active and not meter_id):
        raise bad_request("데이터베이스 이름, 장치 ID, 미터 ID가 필요합니다.")
    if await call.device(device_uid) is None:
        raise Refused(NOT_FOUND)
    if not active:
        await call.store.update_device(call.tenant, device_uid, {"flag": False})
        await binding.unbind(call, {"bind_device_id": device_uid})
        return {"code": 200, "elasped_time": call.elapsed(), "data": {"bind_date": None, "binded": False}}
    install = {key: value for key, value in source.items() if key in INSTALL_FIELDS}
    changes = device_changes({**install, "flag": True}, call.caller)
    await call.store.update_device(call.tenant, device_uid, changes)
    for subscriber in await binding.subscribers(call, {"bind_device_id": device_uid}):
        if subscriber.get("meter_id") != meter_id:
            await binding.unbind(call, {"customer_no": subscriber["customer_no"]})
    bind_date = local_string(call.now(), call.tz)
    for subscriber in await binding.subscribers(call, {"meter_id": meter_id}):
        await binding.bind(call, subscriber, device_uid, bind_date)
    return {
        "code": 200,
        "elasped_time": call.elapsed(),
        "data": {"bind_date": bind_date, "binded": True},
    }


async def unbind_device(call: Call) -> Reply:
    """v3 unbind: the device stops reporting (``flag: false``) and its subscribers are unbound."""
    call.require("subscribers.bind")
    device_uid = _uid(call, _source(call))
    if not device_uid:
        raise bad_request("데이터베이스 이름, 장치 ID가 필요합니다.")
    if await call.device(device_uid) is None:
        raise Refused(NOT_FOUND)
    await call.store.update_device(call.tenant, device_uid, {"flag": False})
    await binding.unbind(call, {"bind_device_id": device_uid})
    return {"code": 200, "data": {"unbinded": True}}


async def delete_device(call: Call) -> Reply:
    """v3 delete: the device, its route and its subscribers' binding (an administrator's, as releasing)."""
    device_uid = _uid(call, _source(call))
    if not device_uid:
        raise bad_request("데이터베이스 이름과 장치 ID가 필요합니다.")
    deleted = 0
    if await call.device(device_uid) is not None:
        await binding.unbind(call, {"bind_device_id": device_uid})
        deleted = int(await call.store.delete_device(call.tenant, device_uid))
    return {"code": 200, "data": {"deleted_count": deleted}}


async def release_devices(call: Call) -> Reply:
    """v3 release: ``device_uids`` to ``installer_id``, a user of the caller's tenant."""
    uids = call.body.get("device_uids")
    installer_id = identifier(call.body, "installer_id")
    if not uids or not installer_id:
        raise bad_request("데이터베이스 이름, 장치 ID 목록, 설치자 ID가 필요합니다.")
    release_date = text(call.body, "release_date") or _today(call)
    added, exist = await _release(call, uids, installer_id, release_date, text(call.body, "comment") or "")
    return {
        "code": 200,
        "data": {
            "release_date": release_date,
            "released_count": len(added),
            "released_devices": added,
            "installer_id": installer_id,
            "exist": exist,
        },
    }


async def release_product(call: Call) -> Reply:
    """v2 updateReleaseProduct: ``usnList`` to ``installer_id``; code 0 when every UID existed already."""
    installer_id = identifier(call.body, "installer_id")
    uids = call.body.get("usnList")
    if not installer_id or not isinstance(uids, list):
        raise bad_request("installer_id and usnList are required")
    release_date = text(call.body, "release_date") or _today(call)
    added, exist = await _release(call, uids, installer_id, release_date, text(call.body, "comment") or "")
    return {"code": 200 if added else 0, "elasped_time": call.elapsed(), "data": {"exist": exist, "added": added}}


async def _release(
    call: Call, uids: object, installer_id: str, release_date: str, comment: str
) -> tuple[list[str], list[str]]:
    """``(added, exist)``: new devices of the tenant, inactive until installed; a UID known anywhere
    (in any tenant) is never moved or changed."""
    if not isinstance(uids, list) or len(uids) > MAX_RELEASE:
        raise bad_request(f"the device UIDs must be a list of at most {MAX_RELEASE}")
    wanted: list[str] = []
    for uid in uids:
        if not isinstance(uid, str) or not UID_RE.fullmatch(uid):
            raise bad_request(f"device UID {uid!r} must be 1 to 64 letters, digits or _.:- (as the REST API's release)")
        if uid not in wanted:
            wanted.append(uid)
    if await call.store.get_user(call.tenant, installer_id) is None:
        raise Refused({"code": 1004, "description": "no_user_id"})
    added: list[str] = []
    exist: list[str] = []
    for uid in wanted:
        if await call.store.get_device_route(uid) is not None:
            exist.append(uid)
            continue
        document = {
            "device_uid": uid,
            "release_date": release_date,
            "installer_id": installer_id,
            "comment": comment,
            "flag": False,
        }
        try:
            await call.store.add_device(call.tenant, document)
        except Conflict:
            exist.append(uid)
        else:
            added.append(uid)
    return added, exist


def _today(call: Call) -> str:
    return local_string(call.now(), call.tz)[:10]
