"""SQLite store methods for the live feed: ``live_feed``, a bounded change log that web processes follow.

A write that announces something (a report, an event, a stable scale line, a dead letter) appends its
entry with :func:`append_live` inside its own unit, so an entry is committed with what it announces or not
at all. SQLite serialises writers, so ids grow in commit order across processes and a follower reading
``WHERE id > ?`` never skips one. Followers in the writing process are handed the unit's entries once its
commit is durable (no read back); an entry whose id does not follow the follower's position (another
process wrote in between) sends it to the table instead. Followers of other processes (a web-only
``serve --no-listeners``) read the table every :attr:`LiveMethods.live_poll_interval` on the event loop's
own thread (an indexed read that finds nothing costs microseconds, far less than a thread hand-over).
The table keeps the newest :data:`LIVE_FEED_KEPT` entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from core.errors import InvalidInput
from core.store.documents import from_json, to_json
from core.store.live import Entry, check_live
from core.store.sqlite.backend import SQLiteBackend

T = TypeVar("T")
#: a row of the table as followers read it: ``(id, kind, tenant, at, doc)``
Row = tuple[int, str, "str | None", float, str]

#: entries the table keeps; older ones are deleted as new ones come
LIVE_FEED_KEPT = 10_000
#: the trim runs once per this many entries, so an append costs one INSERT
_TRIM_EVERY = 256
#: entries one poll reads at most; also the most entries handed to one follower before it reads the table
_BATCH = 500

#: the rows the running unit appended, on the thread that runs it (set by :meth:`LiveMethods._write`)
_appending = threading.local()


def append_live(conn: sqlite3.Connection, entry: Entry) -> None:
    """Append one entry (as :mod:`core.store.live` makes them) inside the running unit (on whichever thread runs it);
    trims the oldest now and then."""
    kind, tenant, data = entry
    at, doc = time.time(), to_json(data)
    cursor = conn.execute("INSERT INTO live_feed (at, kind, tenant, doc) VALUES (?, ?, ?, ?)", (at, kind, tenant, doc))
    last = cursor.lastrowid or 0
    if last % _TRIM_EVERY == 0:
        conn.execute("DELETE FROM live_feed WHERE id <= ?", (last - LIVE_FEED_KEPT,))
    rows: list[Row] | None = getattr(_appending, "rows", None)
    if rows is not None:
        rows.append((last, kind, tenant, at, doc))


def _entries_after(conn: sqlite3.Connection, after: int) -> list[Any]:
    return conn.execute(
        "SELECT id, kind, tenant, at, doc FROM live_feed WHERE id > ? ORDER BY id LIMIT ?", (after, _BATCH)
    ).fetchall()


class _Follower:
    """One ``follow_live`` of this process: its loop, its wake-up, the committed rows handed to it, and a
    clock that asks for a read of the table every ``interval`` (one timer, not one per wait)."""

    __slots__ = ("event", "handed", "interval", "loop", "overflowed", "read_due", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.event = asyncio.Event()
        self.handed: list[Row] = []
        self.overflowed = False
        self.read_due = False
        self.timer = loop.call_later(interval, self._due)

    def _due(self) -> None:
        self.read_due = True
        self.event.set()
        self.timer = self.loop.call_later(self.interval, self._due)

    def stop(self) -> None:
        self.timer.cancel()

    def hand(self, rows: list[Row]) -> None:
        """On the follower's loop. Past :data:`_BATCH` rows the follower reads the table instead."""
        if self.overflowed or len(self.handed) + len(rows) > _BATCH:
            self.handed, self.overflowed = [], True
        else:
            self.handed.extend(rows)
        self.event.set()

    def take(self, position: int) -> tuple[list[Row], bool]:
        """``(rows that follow position, whether the table must be read)``: handed rows are used only while
        their ids follow one another from ``position``, so none committed by another process is skipped."""
        handed, self.handed = self.handed, []
        overflowed, self.overflowed = self.overflowed, False
        rows: list[Row] = []
        for row in handed:
            if row[0] <= position:
                continue  # already read from the table
            if row[0] != position + 1:
                return rows, True
            rows.append(row)
            position = row[0]
        return rows, overflowed


class LiveMethods(SQLiteBackend):
    """``live_feed``: :meth:`publish_live`, :meth:`follow_live`, and the hand-over of each commit's entries
    to this process's followers (this class's ``_write`` wraps the backend's, for every mixin's writes)."""

    #: seconds between two reads of the table by each follower, for what other processes wrote
    live_poll_interval: float = 0.005

    def _live_followers(self) -> set[_Follower]:
        followers: set[_Follower] | None = self.__dict__.get("_live_following")
        if followers is None:
            followers = self.__dict__["_live_following"] = set()
        return followers

    async def _write(self, unit: Callable[[sqlite3.Connection], T], bulk: bool = False) -> T:
        def appending(conn: sqlite3.Connection) -> tuple[T, list[Row]]:
            rows: list[Row] = []
            _appending.rows = rows
            try:
                return unit(conn), rows
            finally:
                _appending.rows = None

        # a unit that failed, or whose commit failed, raises here: nothing it appended is handed over
        result, rows = await super()._write(appending, bulk)
        if rows:
            self._hand_over(rows)
        return result

    def _hand_over(self, rows: list[Row]) -> None:
        followers = self._live_followers()
        if not followers:
            return  # no live subscriber in this process: not even the running loop to look up
        running = asyncio.get_running_loop()
        for follower in list(followers):
            if follower.loop is running:
                follower.hand(rows)
            else:
                with contextlib.suppress(RuntimeError):  # that loop is closed: its follower is gone
                    follower.loop.call_soon_threadsafe(follower.hand, rows)

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
        follower = _Follower(asyncio.get_running_loop(), self.live_poll_interval)
        self._live_followers().add(follower)
        try:
            read = True  # the table first: entries after ``after`` were committed before this follower was
            while True:
                follower.event.clear()  # before taking: a hand-over or the clock sets it again, none is missed
                rows, gap = follower.take(position)
                for row in rows:
                    position = row[0]
                    yield _entry(row)
                if read or gap or follower.read_due:
                    follower.read_due = False
                    found = await self._read_point(functools.partial(_entries_after, after=position))
                    for row in found:
                        position = row[0]
                        yield _entry(row)
                    read = len(found) == _BATCH  # more to read
                if not (read or follower.handed or follower.overflowed or follower.read_due):
                    await follower.event.wait()
        finally:
            follower.stop()
            self._live_followers().discard(follower)


def _entry(row: Row) -> dict[str, Any]:
    entry_id, kind, tenant, at, doc = row
    return {"kind": kind, "tenant": tenant, "at": at, "data": from_json(doc), "position": entry_id}
