"""MongoDB store methods for the live feed: the ``live_feed`` collection of the common database.

A write that announces something hands its entries to :meth:`LiveMethods._announce` once what it announces
is committed: a background task appends them in that order, so a report's transaction stays within its
tenant's database and neither a slow nor a failed append delays the device's reply (a failure costs a live
view those entries, counted in :attr:`LiveMethods.live_entries_missed` and logged). Followers read the collection through a
change stream (a replica set or a sharded cluster, SecantusDB included): the server pushes each insert in
commit order, and the stream's resume token is the position. A standalone server has no change streams;
there followers poll the collection by ``_id`` every :attr:`LiveMethods.live_poll_interval`, reading again
the last :data:`_POLL_OVERLAP` seconds, as ``_id`` values from several processes are ordered only to the
second. Entries expire after :data:`LIVE_FEED_RETENTION` seconds (a TTL index), so the collection stays small.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import OperationFailure, PyMongoError

from core.errors import StoreUnavailable
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
#: entries waiting for the background append at most; beyond it new ones are dropped (and counted)
ANNOUNCE_BACKLOG = 10_000
#: seconds :meth:`LiveMethods.close` waits for the entries still waiting
_CLOSE_FLUSH = 2.0
#: seconds between two log lines about missed entries
_MISSED_LOG_INTERVAL = 10.0

log = logging.getLogger(__name__)


def live_document(entry: Entry) -> dict[str, Any]:
    kind, tenant, data = entry
    now = time.time()
    return {"kind": kind, "tenant": tenant, "at": now, "at_date": epoch_date(now), "data": dict(data)}


def _entry(doc: Mapping[str, Any], position: Any) -> dict[str, Any]:
    return {
        "kind": doc.get("kind"),
        "tenant": doc.get("tenant"),
        "at": doc.get("at"),
        "data": dict(doc.get("data") or {}),
        "position": position,
    }


class _Announced:
    """The entries a store has announced and not yet appended, with the futures waiting for them."""

    __slots__ = ("docs", "task", "waiters")

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.task: asyncio.Task[None] | None = None


def _stop_if_cancelled() -> None:
    """Raise the cancellation a driver call swallowed. pymongo's async reads can absorb a cancel that comes
    as their reply arrives (about one in eight cancels of a follower, against the test server): the follower
    of a closed WebSocket would then read on for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class LiveMethods(MongoBackend):
    """``live_feed``: :meth:`publish_live`, :meth:`follow_live`; its TTL index is made when the store opens."""

    #: seconds between two reads of a follower on a server without change streams
    live_poll_interval: float = 0.05
    #: entries the live feed never got (the append failed, or the backlog was full)
    live_entries_missed: int = 0
    _missed_logged_at: float = float("-inf")

    @property
    def _announced(self) -> _Announced:
        announced: _Announced | None = self.__dict__.get("_live_announced")
        if announced is None:
            announced = self.__dict__["_live_announced"] = _Announced()
        return announced

    async def open(self) -> None:
        first = self._client is None
        await super().open()
        if first:
            with driver_errors("prepare the live feed"):
                await ensure_ttl(self._common[COLLECTION], LIVE_FEED_RETENTION)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._appended(), _CLOSE_FLUSH)
        except TimeoutError:
            announced = self._announced
            if announced.task is not None:
                announced.task.cancel()
            self._missed(len(announced.docs), f"the store closed before they were appended within {_CLOSE_FLUSH:g}s")
            for waiter in announced.waiters:
                if not waiter.done():
                    waiter.set_exception(StoreUnavailable("the store closed before the live entry was appended"))
            announced.docs, announced.waiters = [], []
        await super().close()

    async def _appended(self) -> None:
        """Once the entries announced so far are appended (or missed)."""
        task = self._announced.task
        if task is not None and not task.done():
            await asyncio.shield(task)

    def _announce(self, *entries: Entry, appended: asyncio.Future[None] | None = None) -> None:
        """Append ``entries`` to the feed in the background, after those announced before; never waits.
        ``appended``, when given, is resolved once they are (or fails with the driver's error)."""
        announced = self._announced
        room = max(0, ANNOUNCE_BACKLOG - len(announced.docs))
        if room < len(entries):
            self._missed(len(entries) - room, "the backlog is full")
            if appended is not None:
                appended.set_exception(StoreUnavailable("the live feed's backlog is full"))
                return
            entries = entries[:room]
        announced.docs.extend(live_document(entry) for entry in entries)
        if appended is not None:
            announced.waiters.append(appended)
        if announced.task is None or announced.task.done():
            announced.task = asyncio.get_running_loop().create_task(self._append_announced(announced))

    async def _append_announced(self, announced: _Announced) -> None:
        while announced.docs or announced.waiters:
            batch, announced.docs = announced.docs, []
            waiters, announced.waiters = announced.waiters, []
            failure: BaseException | None = None
            try:
                if batch:
                    await self._common[COLLECTION].insert_many(batch, ordered=True)
            except (PyMongoError, StoreUnavailable) as exc:
                failure = exc
                self._missed(len(batch), str(exc))
            for waiter in waiters:
                if waiter.done():
                    continue
                if failure is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(failure)

    def _missed(self, count: int, why: str) -> None:
        self.live_entries_missed += count
        now = time.monotonic()
        if now - self._missed_logged_at >= _MISSED_LOG_INTERVAL:
            self._missed_logged_at = now
            log.warning(
                "the live feed missed %d entr%s (%d in all): %s",
                count,
                "y" if count == 1 else "ies",
                self.live_entries_missed,
                why,
            )

    async def publish_live(self, kind: str, tenant: str | None, data: Mapping[str, Any]) -> None:
        doc = check_live(kind, tenant, data)
        appended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._announce((kind, tenant, doc), appended=appended)
        with driver_errors(f"publish a live {kind}"):
            await appended

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
        """The position after every entry, those this store is still appending included."""
        await self._appended()
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
                _stop_if_cancelled()
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
            _stop_if_cancelled()
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
