"""MongoDB store methods for the live feed: the ``live_feed`` collection of the common database.

A write that announces something appends its entry with :func:`append_live` right after what it announces
is committed (a report's transaction stays within its tenant's database; a failed append costs a live view
one entry, never the device's reply). Followers read the collection through a
change stream (a replica set or a sharded cluster, SecantusDB included): the server pushes each insert in
commit order, and the stream's resume token is the position. A standalone server has no change streams;
there followers poll the collection by ``_id`` every :attr:`LiveMethods.live_poll_interval`, reading again
the last :data:`_POLL_OVERLAP` seconds, as ``_id`` values from several processes are ordered only to the
second. Entries expire after :data:`LIVE_FEED_RETENTION` seconds (a TTL index), so the collection stays small.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from core.store.live import Entry, check_live
from core.store.mongo.backend import MongoBackend
from core.store.mongo.codecs import epoch_date
from core.store.mongo.connection import driver_errors
from core.store.mongo.indexes import ensure_ttl

COLLECTION = "live_feed"
#: seconds an entry is kept
LIVE_FEED_RETENTION = 3600
#: server errors that mean "no change streams here" (a standalone server)
_NO_CHANGE_STREAMS = frozenset({40573, 40324, 20})
#: seconds of entries a poll reads again
_POLL_OVERLAP = 2.0
#: how long the server holds an empty change-stream read open (milliseconds)
_AWAIT_MS = 200


async def append_live(common: AsyncDatabase, entry: Entry, session: AsyncClientSession | None = None) -> None:
    """Append one entry, in ``session``'s transaction when given."""
    kind, tenant, data = entry
    now = time.time()
    doc = {"kind": kind, "tenant": tenant, "at": now, "at_date": epoch_date(now), "data": dict(data)}
    await common[COLLECTION].insert_one(doc, session=session)


def _entry(doc: Mapping[str, Any], position: Any) -> dict[str, Any]:
    return {
        "kind": doc.get("kind"),
        "tenant": doc.get("tenant"),
        "at": doc.get("at"),
        "data": dict(doc.get("data") or {}),
        "position": position,
    }


class LiveMethods(MongoBackend):
    """``live_feed``: :meth:`publish_live`, :meth:`follow_live`; its TTL index is made when the store opens."""

    #: seconds between two reads of a follower on a server without change streams
    live_poll_interval: float = 0.05

    async def open(self) -> None:
        first = self._client is None
        await super().open()
        if first:
            with driver_errors("prepare the live feed"):
                await ensure_ttl(self._common[COLLECTION], LIVE_FEED_RETENTION)

    async def publish_live(self, kind: str, tenant: str | None, data: Mapping[str, Any]) -> None:
        doc = check_live(kind, tenant, data)
        with driver_errors(f"publish a live {kind}"):
            await append_live(self._common, (kind, tenant, doc))

    async def _watch(self, after: Any) -> AsyncChangeStream | None:
        """A change stream of the feed's inserts after ``after``; None on a server without them."""
        with driver_errors("follow the live feed"):
            try:
                return await self._common[COLLECTION].watch(
                    [{"$match": {"operationType": "insert"}}], resume_after=after, max_await_time_ms=_AWAIT_MS
                )
            except OperationFailure as exc:
                if exc.code not in _NO_CHANGE_STREAMS:
                    raise
        return None

    async def live_position(self) -> Any:
        stream = await self._watch(None)
        if stream is None:
            return ObjectId()
        async with stream:
            return stream.resume_token

    async def follow_live(self, after: Any = None) -> AsyncIterator[dict[str, Any]]:
        stream = await self._watch(None if isinstance(after, ObjectId) else after)
        if stream is None:
            async for entry in self._poll_live(after):
                yield entry
            return
        async with stream:
            while True:
                with driver_errors("follow the live feed"):
                    change = await stream.try_next()
                if change is not None:
                    yield _entry(change["fullDocument"], change["_id"])

    async def _poll_live(self, after: Any) -> AsyncIterator[dict[str, Any]]:
        """The feed without change streams: ``_id`` order, the last seconds read again, seen ids skipped
        (entries already there at the first read, up to ``after`` or now, count as seen)."""
        feed = self._common[COLLECTION]
        start = after if isinstance(after, ObjectId) else ObjectId()
        newest, seen, first = start, set[ObjectId](), True
        while True:
            floor = ObjectId.from_datetime(newest.generation_time - timedelta(seconds=_POLL_OVERLAP))
            with driver_errors("follow the live feed"):
                docs = await feed.find({"_id": {"$gt": floor}}).sort("_id", 1).to_list(None)
            for doc in docs:
                key = doc["_id"]
                if key in seen:
                    continue
                seen.add(key)
                newest = max(newest, key)
                if not (first and key <= start):
                    yield _entry(doc, key)
            first = False
            seen = {key for key in seen if key > floor}
            await asyncio.sleep(self.live_poll_interval)
