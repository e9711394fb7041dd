"""The SQLite writer thread: every write of a store, in group commits, plus the periodic retention purge.

Write methods hand the writer a *unit* (a function of the connection). The writer drains everything
queued, runs the units one after the other (when one fails, the transaction is rolled back and the group
runs again with a SAVEPOINT per unit, so the failing unit is rolled back alone), COMMITs once with
``synchronous=FULL`` and only then resolves the callers' futures, so many concurrent device sessions share
one fsync and a write returns only once it is durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from core.errors import StoreUnavailable
from core.store.sqlite.connection import file_identity, translate_error

log = logging.getLogger(__name__)

MAX_UNITS_PER_COMMIT = 1000

Unit = Callable[[sqlite3.Connection], Any]
_Job = tuple[Unit, "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_STOP = object()


class Retention(NamedTuple):
    """Rows of ``table`` older than ``days`` (by ``at``) are purged; ``stat`` counts them. ``days <= 0``
    keeps them."""

    table: str
    days: float
    stat: str


class _Outcome:
    """What one unit's caller gets: its result or its error, on its own event loop."""

    __slots__ = ("error", "future", "loop", "result")

    def __init__(
        self,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        self.future, self.loop, self.result, self.error = future, loop, result, error


class TenantLedger:
    """Which tenants the ``tenants`` table holds: those committed, and those the running unit added.
    Touched by the writer thread only, so a tenant is inserted once, not on every write."""

    def __init__(self, committed: set[str]) -> None:
        self.committed = committed
        self.pending: set[str] = set()

    def register(self, conn: sqlite3.Connection, tenant: str) -> None:
        if tenant not in self.committed:
            conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (tenant,))
            self.pending.add(tenant)


class Writer(threading.Thread):
    """Runs queued units in group commits: drain, run the units, one COMMIT, resolve the futures."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        tenants: TenantLedger,
        stats: dict[str, int],
        retention: Sequence[Retention],
        purge_interval: float,
    ) -> None:
        super().__init__(name="specgate-sqlite-writer", daemon=True)
        self.conn = conn
        self.path = path
        self.tenants = tenants
        self.stats = stats
        self.retention = retention
        self.purge_interval = purge_interval
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stopping = False
        self.next_purge = time.monotonic()
        self.identity = file_identity(path)
        #: the results of the batch :meth:`_run_plain` ran last (one list, reused)
        self._results: list[Any] = []

    def submit(self, unit: Unit, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> None:
        if self.stopping or not self.is_alive():
            raise StoreUnavailable(f"SQLite store {self.path} is closed")
        self.queue.put((unit, future, loop))

    def stop(self) -> None:
        self.stopping = True
        self.queue.put(_STOP)

    def run(self) -> None:
        try:
            self._serve()
        finally:
            self._fail_leftovers()
            self.conn.close()

    def _serve(self) -> None:
        stop = False
        while not stop:
            timeout = max(0.0, self.next_purge - time.monotonic())
            try:
                item = self.queue.get(timeout=timeout)
            except queue.Empty:
                self._purge()
                continue
            batch: list[_Job] = []
            while True:
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)
                if len(batch) >= MAX_UNITS_PER_COMMIT:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit_batch(batch)
            if time.monotonic() >= self.next_purge:
                self._purge()

    def _commit_batch(self, batch: list[_Job]) -> None:
        conn, path = self.conn, self.path
        try:
            if file_identity(path) != self.identity:
                # SQLite would keep writing to the unlinked file and lose everything on restart
                raise sqlite3.OperationalError(f"database file {path} is gone or was replaced")
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            error = translate_error(exc, path)
            _deliver([_Outcome(fut, loop, error=error) for _, fut, loop in batch])
            return
        failed = self._run_plain(batch)
        if failed is None:
            outcomes = [
                _Outcome(fut, loop, result) for (_, fut, loop), result in zip(batch, self._results, strict=True)
            ]
            committed_tenants = set(self.tenants.pending)
            broken: BaseException | None = None
        else:
            # a unit failed: nothing of this transaction is kept; a lone unit's error is its answer, a group
            # runs again with a savepoint per unit so only the failing one is rolled back
            try:
                if conn.in_transaction:  # some errors (a full disk) end the transaction themselves
                    conn.execute("ROLLBACK")
                if len(batch) == 1:
                    _deliver([_Outcome(batch[0][1], batch[0][2], error=translate_error(failed, path))])
                    return
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                error = translate_error(exc, path)
                _deliver([_Outcome(fut, loop, error=error) for _, fut, loop in batch])
                return
            outcomes, committed_tenants, broken = self._run_isolated(batch)
        if broken is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                broken = translate_error(exc, path)
        if broken is not None:
            log.error("SQLite commit of %d units failed: %s", len(batch), broken)
            self.stats["failed_commits"] += 1
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for outcome in outcomes:
                if outcome.error is None:
                    outcome.result, outcome.error = None, broken
        else:
            self.tenants.committed |= committed_tenants
            self.stats["commits"] += 1
            self.stats["units"] += len(batch)
        _deliver(outcomes)

    def _run_plain(self, batch: list[_Job]) -> BaseException | None:
        """Run every unit of ``batch`` with no savepoint (the common case: none fails), their results in
        ``self._results``; the error of the first that failed, else None."""
        conn, results = self.conn, self._results
        results.clear()
        self.tenants.pending.clear()
        try:
            for unit, _fut, _loop in batch:
                results.append(unit(conn))
        except Exception as exc:
            return exc
        return None

    def _run_isolated(self, batch: list[_Job]) -> tuple[list[_Outcome], set[str], BaseException | None]:
        """Run every unit of ``batch`` inside its own SAVEPOINT: a failing unit is rolled back alone. The
        outcomes, the tenants the units that succeeded added, and the error that broke the transaction."""
        conn, path = self.conn, self.path
        outcomes: list[_Outcome] = []
        committed_tenants: set[str] = set()
        broken: BaseException | None = None
        for unit, fut, loop in batch:
            if broken is not None:
                outcomes.append(_Outcome(fut, loop, error=broken))
                continue
            self.tenants.pending.clear()
            try:
                conn.execute("SAVEPOINT unit")
                result = unit(conn)
                conn.execute("RELEASE unit")
            except Exception as exc:
                outcomes.append(_Outcome(fut, loop, error=translate_error(exc, path)))
                try:
                    conn.execute("ROLLBACK TO unit")
                    conn.execute("RELEASE unit")
                except sqlite3.Error as rollback_exc:
                    broken = translate_error(rollback_exc, path)
                continue
            committed_tenants |= self.tenants.pending
            outcomes.append(_Outcome(fut, loop, result))
        return outcomes, committed_tenants, broken

    def _purge(self) -> None:
        """Drop rows older than their retention, each table in its own transaction."""
        self.next_purge = time.monotonic() + self.purge_interval
        for table, days, stat in self.retention:
            if days <= 0:
                continue
            cutoff = time.time() - days * 86400
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                removed = self.conn.execute(f"DELETE FROM {table} WHERE at < ?", (cutoff,)).rowcount
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                log.warning("%s purge of %s failed: %s", table, self.path, exc)
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                continue
            self.stats[stat] += removed

    def _fail_leftovers(self) -> None:
        leftovers = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                _unit, fut, loop = item
                leftovers.append(_Outcome(fut, loop, error=StoreUnavailable(f"SQLite store {self.path} is closed")))
        _deliver(leftovers)


def _deliver(outcomes: list[_Outcome]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome.loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, items)
        except RuntimeError:
            pass  # the caller's loop is closed: nobody is waiting any more


def _resolve(outcomes: list[_Outcome]) -> None:
    for outcome in outcomes:
        if outcome.future.done():
            continue
        if outcome.error is not None:
            outcome.future.set_exception(outcome.error)
        else:
            outcome.future.set_result(outcome.result)
