"""Query building on MongoDB: filters from checked listing queries, one page of a collection, and bulk
inserts that skip what is already stored."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from core.errors import StoreUnavailable
from core.store.listings import ListQuery, Page, Scalar
from core.store.mongo.codecs import strip
from core.store.mongo.connection import DUPLICATE_KEY, RetryTransaction, driver_errors


def equality_filter(
    query: ListQuery, searches: Sequence[str] = (), fixed: Mapping[str, Scalar] | None = None
) -> dict[str, Any]:
    """The filter of an already checked query: equality, one-of and range conditions on scalars (never
    operators), the search as an escaped, case-insensitive ``$regex`` over ``searches`` (never a pattern
    of the caller's), and the store's own ``fixed`` equality conditions besides."""
    spec: dict[str, Any] = {}
    for name, value in query.filters.items():
        spec[name] = {"$eq": value}
    for name, values in query.any_of.items():
        spec.setdefault(name, {})["$in"] = list(values)  # None in $in matches a missing field too
    for name, (low, high) in query.ranges.items():
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["$gte"] = low
        if high is not None:
            bounds["$lt"] = high
        if bounds:
            spec.setdefault(name, {}).update(bounds)
    if query.search:
        pattern = re.escape(query.search)
        spec["$or"] = [{name: {"$regex": pattern, "$options": "i"}} for name in searches]
    if fixed:
        own = {name: {"$eq": value} for name, value in fixed.items()}
        spec = {"$and": [own, spec]} if spec else own
    return spec


async def find_page(
    collection: AsyncCollection,
    query: ListQuery,
    order: tuple[str, bool],
    internal: tuple[str, ...] = (),
    searches: Sequence[str] = (),
    fixed: Mapping[str, Scalar] | None = None,
) -> Page:
    """One page of a checked query sorted by ``order`` (``(field, descending)``); ``_id`` breaks ties so
    pages never overlap. ``internal`` fields are not returned; ``searches`` and ``fixed`` are those of
    :func:`equality_filter`."""
    spec = equality_filter(query, searches, fixed)
    field, descending = order
    direction = DESCENDING if descending else ASCENDING
    sort = [(field, direction)] + ([("_id", direction)] if field != "_id" else [])
    with driver_errors(f"list {collection.name}"):
        total = await collection.count_documents(spec)
        items: list[dict[str, Any]] = []
        if query.limit:
            cursor = collection.find(spec).sort(sort).skip(query.offset).limit(query.limit)
            items = [strip(doc, internal) async for doc in cursor]
    return Page(items=items, total=total)


async def insert_new(collection: AsyncCollection, docs: list[dict[str, Any]], action: str) -> int:
    """Unordered bulk insert; documents whose unique key exists are skipped, any other error raises.
    Returns how many were inserted."""
    if not docs:
        return 0
    try:
        result = await collection.insert_many([dict(doc) for doc in docs], ordered=False)
    except BulkWriteError as exc:
        details = exc.details
        others = [error for error in details.get("writeErrors", []) if error.get("code") != DUPLICATE_KEY]
        if others:
            raise StoreUnavailable(
                f"{action}: {len(others)} refused by MongoDB, first: {others[0].get('errmsg')}"
            ) from exc
        if details.get("writeConcernErrors"):
            raise StoreUnavailable(f"{action}: write concern failed: {details['writeConcernErrors']}") from exc
        return int(details.get("nInserted", 0))
    return len(result.inserted_ids)


async def insert_absent_readings(
    collection: AsyncCollection, device_uid: str, docs: list[dict[str, Any]], session: AsyncClientSession
) -> int:
    """Inside a transaction a duplicate-key error aborts everything: read which timestamps exist, then
    insert the others (one find and one insert; faster than an upsert per reading)."""
    if not docs:
        return 0
    timestamps = [doc["timestamp"] for doc in docs]
    cursor = collection.find(
        {"device_uid": {"$eq": device_uid}, "timestamp": {"$in": timestamps}},
        {"timestamp": 1, "_id": 0},
        session=session,
    )
    seen = {doc["timestamp"] async for doc in cursor}
    new = []
    for doc in docs:
        if doc["timestamp"] not in seen:
            seen.add(doc["timestamp"])
            new.append(dict(doc))
    if not new:
        return 0
    try:
        await collection.insert_many(new, ordered=True, session=session)
    except (BulkWriteError, DuplicateKeyError) as exc:
        details = getattr(exc, "details", None) or {}
        codes = {error.get("code") for error in details.get("writeErrors", [])} | {getattr(exc, "code", None)}
        if DUPLICATE_KEY in codes:  # a concurrent report of the same device committed these first
            raise RetryTransaction(str(exc)) from exc
        raise
    return len(new)


async def insert_event(collection: AsyncCollection, doc: dict[str, Any], session: AsyncClientSession | None) -> bool:
    """Insert an event unless one with its ``event_id`` is stored (a resent report); True when new.

    The id is looked up first: inside a transaction a duplicate-key error would abort everything, and an
    operator's own non-unique index on ``event_id`` would not refuse the duplicate. The unique index still
    settles a race with a concurrent insert of the same id (a retried transaction, or skipped outside one)."""
    if await collection.find_one({"event_id": {"$eq": doc["event_id"]}}, {"_id": 1}, session=session) is not None:
        return False
    try:
        await collection.insert_one(dict(doc), session=session)
    except DuplicateKeyError as exc:
        if session is not None:
            raise RetryTransaction(str(exc)) from exc
        return False
    return True
