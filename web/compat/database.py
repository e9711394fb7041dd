"""The database viewer: ``database`` (``list``: the tree, ``view``: rows of a collection) and ``insert``.

The original passed any database, collection and raw MongoDB filter through (``$where`` included) and
inserted anything anywhere. Here an administrator (``database.browse``) sees only its own tenant's
collections in :data:`COLLECTIONS`, never a password hash, filters by equality only and inserts only
subscribers and devices, through the same checks as the other scripts.
"""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, NotFound
from core.security.accounts import public_user
from core.store import ListQuery
from web.api.devices import UID_RE
from web.compat.context import PAGE, Call
from web.compat.envelope import PERMISSION_DENIED, Refused, Reply, bad_request, shown
from web.compat.fields import device_changes, subscriber_fields
from web.compat.inputs import equality_filter, field_names, text

#: the tenant collections an administrator may browse (never sessions, tokens or the common routes)
COLLECTIONS = ("users", "device", "data", "subscriber", "event")
#: fields neither shown, filtered nor sorted on (a filter on a hash would test passwords)
HIDDEN = {"users": frozenset({"passwd", "userseq"})}
INSERTABLE = ("subscriber", "device")
MAX_INSERT = 1000


async def database_tree(call: Call) -> Reply:
    """getDatabaseTree: the caller's tenant and its browsable collections."""
    listed = {entry["db"]: entry["collections"] for entry in await call.store.list_collections()}
    present = set(listed.get(call.tenant, ()))
    collections = [name for name in COLLECTIONS if name in present]
    return {"code": 200, "elasped_time": call.elapsed(), "data": [{"db": call.tenant, "collections": collections}]}


def _collection(call: Call, allowed: tuple[str, ...]) -> str:
    database = text(call.body, "db") or call.tenant
    collection = text(call.body, "table")
    if database != call.tenant:
        raise Refused(PERMISSION_DENIED)
    if collection not in allowed:
        raise bad_request(f"table must be one of {', '.join(allowed)}, got {collection!r}")
    return collection


def _order(value: object) -> tuple[str | None, bool]:
    """``orderby`` as the clients send it: ``"field"``, ``"field: desc"``, ``"-field"`` or ``[[field, dir]]``."""
    if value in (None, "", []):
        return None, False
    if isinstance(value, list) and value and isinstance(value[0], list) and len(value[0]) == 2:
        field, direction = value[0]
        return str(field), direction in (-1, "-1", "desc", "descending")
    if isinstance(value, str):
        name, _, direction = value.replace(":", " ").strip().partition(" ")
        if name.startswith("-"):
            return name[1:], True
        return name, direction.strip().lower() in ("desc", "descending", "-1")
    raise bad_request("orderby must be a field name, 'field: desc' or [[field, direction]]")


async def view_collection(call: Call) -> Reply:
    """queryDatabase: rows of one collection, ``limit`` at most 1000 (0: 1000), ``fields`` the union of
    the rows' keys (a row without one shows ``"-"``), ``total_records`` ignoring the limit."""
    collection = _collection(call, COLLECTIONS)
    hidden = HIDDEN.get(collection, frozenset())
    filters = equality_filter(call.body)
    sort, descending = _order(call.body.get("orderby"))
    if hidden & set(filters) or sort in hidden:
        raise bad_request(f"cannot filter or sort on {', '.join(sorted(hidden))}")
    limit = call.body.get("limit") or PAGE
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise bad_request("limit must be a non-negative integer")
    query = ListQuery(filters=filters, sort=sort, descending=descending, limit=min(limit, PAGE))
    try:
        page = await call.store.browse(call.tenant, collection, query)
    except NotFound:
        return {"code": 200, "total_records": 0, "fields": [], "data": [], "elasped_time": call.elapsed()}
    rows = [shown(public_user(item), call.tz) for item in page.items]
    rows = [{key: value for key, value in item.items() if key not in hidden} for item in rows]
    wanted = field_names(call.body)
    fields = wanted or list(dict.fromkeys(key for item in rows for key in item))
    data = [{name: item.get(name, "-") for name in fields} for item in rows]
    return {"code": 200, "total_records": page.total, "fields": fields, "data": data, "elasped_time": call.elapsed()}


async def insert_documents(call: Call) -> Reply:
    """insertDatabase, for ``subscriber`` (``subscribers.manage``) and ``device`` (``devices.release``:
    a device is created with its route, inactive unless ``flag`` says otherwise). Every document is
    checked before any is written; an existing key refuses the whole request."""
    collection = _collection(call, INSERTABLE)
    call.require("subscribers.manage" if collection == "subscriber" else "devices.release")
    documents = call.body.get("data")
    if not isinstance(documents, list) or not documents or len(documents) > MAX_INSERT:
        raise bad_request(f"data must be a list of 1 to {MAX_INSERT} documents")
    checked = [_checked(call, collection, document) for document in documents]
    key = "customer_no" if collection == "subscriber" else "device_uid"
    keys = [document[key] for document in checked]
    if len(set(keys)) != len(keys):
        raise bad_request(f"data repeats a {key}")
    installers = {document["installer_id"] for document in checked if document.get("installer_id")}
    for installer_id in sorted(installers):
        if await call.store.get_user(call.tenant, installer_id) is None:
            raise bad_request(f"installer_id {installer_id!r} is not a user of your tenant")
    for value in keys:
        if await _exists(call, collection, value):
            return {"code": 409, "message": f"{key} {value} exists already", "elasped_time": call.elapsed()}
    for document in checked:
        try:
            if collection == "subscriber":
                await call.store.upsert_subscriber(call.tenant, document)
            else:
                await call.store.add_device(call.tenant, document)
        except Conflict:
            return {"code": 409, "message": f"{key} {document[key]} exists already", "elasped_time": call.elapsed()}
    return {"code": 200, "elasped_time": call.elapsed(), "data": {"inserted_count": len(checked)}}


def _checked(call: Call, collection: str, document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise bad_request("each document must be an object")
    key = "customer_no" if collection == "subscriber" else "device_uid"
    value = text(document, key, required=True)
    assert value is not None
    if value.startswith("$"):
        raise bad_request(f"{key} may not start with '$'")
    rest = {name: item for name, item in document.items() if name != key}
    if collection == "subscriber":
        return {key: value, "binded": False, **subscriber_fields(rest)}
    if not UID_RE.fullmatch(value):
        raise bad_request(f"device_uid {value!r} must be 1 to 64 letters, digits or _.:- (as the REST API's release)")
    return {key: value, "flag": False, **device_changes(rest, call.caller)}


async def _exists(call: Call, collection: str, value: str) -> bool:
    if collection == "subscriber":
        return await call.store.get_subscriber(call.tenant, value) is not None
    return await call.store.get_device_route(value) is not None
