"""SQLite store methods for the live feed: ``live_feed``, a bounded change log that web processes follow.

A write that announces something (a report, an event, a stable scale line, a dead letter) appends its
entry with :func:`append_live` inside its own unit, so an entry is committed with what it announces or not
at all. SQLite serialises writers, so ids grow in commit order across processes and a follower reading
``WHERE id > ?`` never skips one. Followers in the writing process are woken as soon as a commit is durable;
those of other processes (a web-only ``serve --no-listeners``) poll every :attr:`LiveMethods.live_poll_interval`
(10 ms: an indexed read that finds nothing costs microseconds).
The table keeps the newest :data:`LIVE_FEED_KEPT` entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from core.errors import InvalidInput
from core.store.documents import from_json, to_json
from core.store.live import Entry, check_live
from core.store.sqlite.backend import SQLiteBackend

T = TypeVar("T")

#: entries the table keeps; older ones are deleted as new ones come
LIVE_FEED_KEPT = 10_000
#: the trim runs once per this many entries, so an append costs one INSERT
_TRIM_EVERY = 256
#: entries one poll reads at most
_BATCH = 500


def append_live(conn: sqlite3.Connection, entry: Entry) -> None:
    """Append one entry (as :mod:`core.store.live` makes them) inside the running unit, on the writer thread;
    trims the oldest now and then."""
    kind, tenant, data = entry
    cursor = conn.execute(
        "INSERT INTO live_feed (at, kind, tenant, doc) VALUES (?, ?, ?, ?)", (time.time(), kind, tenant, to_json(data))
    )
    last = cursor.lastrowid or 0
    if last % _TRIM_EVERY == 0:
        conn.execute("DELETE FROM live_feed WHERE id <= ?", (last - LIVE_FEED_KEPT,))


def _entries_after(conn: sqlite3.Connection, after: int) -> list[Any]:
    return conn.execute(
        "SELECT id, kind, tenant, at, doc FROM live_feed WHERE id > ? ORDER BY id LIMIT ?", (after, _BATCH)
    ).fetchall()


class LiveMethods(SQLiteBackend):
    """``live_feed``: :meth:`publish_live`, :meth:`follow_live`, and the wake-up of this process's followers
    after every commit (this class's ``_write`` wraps the backend's, for every mixin's writes)."""

    #: seconds between two reads of a follower no write of this process woke
    live_poll_interval: float = 0.01

    def _live_waiters(self) -> set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]:
        waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] | None = self.__dict__.get("_live_waiting")
        if waiters is None:
            waiters = self.__dict__["_live_waiting"] = set()
        return waiters

    async def _write(self, unit: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await super()._write(unit)
        finally:
            self._wake_followers()

    def _wake_followers(self) -> None:
        waiters = self._live_waiters()
        if not waiters:
            return
        running = asyncio.get_running_loop()
        for loop, event in list(waiters):
            if loop is running:
                event.set()
            else:
                with contextlib.suppress(RuntimeError):  # that loop is closed: its follower is gone
                    loop.call_soon_threadsafe(event.set)

    async def publish_live(self, kind: str, tenant: str | None, data: Mapping[str, Any]) -> None:
        doc = check_live(kind, tenant, data)
        await self._write(lambda conn: append_live(conn, (kind, tenant, doc)))

    async def live_position(self) -> int:
        row = await self._read(lambda conn: conn.execute("SELECT COALESCE(MAX(id), 0) FROM live_feed").fetchone())
        return int(row[0])

    async def follow_live(self, after: Any = None) -> AsyncIterator[dict[str, Any]]:
        if after is None:
            position = await self.live_position()
        elif isinstance(after, int) and not isinstance(after, bool) and after >= 0:
            position = after
        else:
            raise InvalidInput(f"a live feed position is an integer of 0 or more on SQLite, got {after!r}")
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        self._live_waiters().add(waiter)
        try:
            while True:
                event.clear()  # before the read: a commit during it sets it again, so none is missed
                rows = await self._read(functools.partial(_entries_after, after=position))
                for entry_id, kind, tenant, at, doc in rows:
                    position = entry_id
                    yield {"kind": kind, "tenant": tenant, "at": at, "data": from_json(doc), "position": entry_id}
                if len(rows) < _BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), self.live_poll_interval)
        finally:
            self._live_waiters().discard(waiter)
