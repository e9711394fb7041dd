"""The SQLite writer: every write of a store, in group commits, plus the periodic retention purge.

Write methods hand the writer a *unit* (a function of the connection). The writer takes everything
queued, runs the units one after the other (when one fails, the transaction is rolled back and the group
runs again with a SAVEPOINT per unit, so the failing unit is rolled back alone), COMMITs once with
``synchronous=FULL`` and only then resolves the callers' futures, so many concurrent device sessions share
one fsync and a write returns only once it is durable.

Where the units run: the units of the event loop that writes first (the gateway's and the web app's) run on
that loop's own thread, as one batch per group, and only the COMMIT (the fsync, and any WAL checkpoint) goes
to the writer thread; while it commits, the next group gathers. A unit is a few SQL statements of
microseconds, and sqlite3 lets go of the GIL around each one: a unit run on another thread has to win the GIL
back from the busy event loop after every statement, which made a group take several times its CPU time. The
writer thread runs the rest: bulk units (a tenant's deletion, an import: they would hold the loop), units of
other loops, a group whose BEGIN met another connection's write lock (the thread waits for it, up to the busy
timeout; the loop never waits), and the purge. ``lock`` says who holds the connection: the loop takes it
without waiting (or hands its group to the thread) and the thread releases it after that group's COMMIT.
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
from core.store.sqlite.connection import BUSY_CODES, file_identity, translate_error

log = logging.getLogger(__name__)

MAX_UNITS_PER_COMMIT = 1000
#: the most units of one group run on the event loop's thread (about 0.1 ms each): a bound on the loop's pause
LOOP_UNITS_PER_COMMIT = 200

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


class _Group(NamedTuple):
    """A group of units run in one transaction: their outcomes, the tenants they added, the error that broke
    the transaction (it is rolled back), and whether a transaction is still open to be ended."""

    outcomes: list[_Outcome]
    committed_tenants: set[str]
    broken: BaseException | None
    open: bool


class _LoopGroup(NamedTuple):
    """A group the event loop ran, for the writer thread to commit (or roll back) and answer on ``loop``."""

    group: _Group
    loop: asyncio.AbstractEventLoop


class TenantLedger:
    """Which tenants the ``tenants`` table holds: those committed, and those the running unit added.
    Touched only by whoever holds the writer's connection, so a tenant is inserted once, not on every write."""

    def __init__(self, committed: set[str]) -> None:
        self.committed = committed
        self.pending: set[str] = set()

    def register(self, conn: sqlite3.Connection, tenant: str) -> None:
        if tenant not in self.committed:
            conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (tenant,))
            self.pending.add(tenant)


class Writer(threading.Thread):
    """Runs units in group commits: take what is queued, run the units, one COMMIT, resolve the futures."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        tenants: TenantLedger,
        stats: dict[str, int],
        retention: Sequence[Retention],
        purge_interval: float,
        busy_timeout: float = 5.0,
    ) -> None:
        super().__init__(name="specgate-sqlite-writer", daemon=True)
        self.conn = conn
        self.path = path
        self.tenants = tenants
        self.stats = stats
        self.retention = retention
        self.purge_interval = purge_interval
        self.busy_timeout = busy_timeout
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stopping = False
        self.finished = False
        self.next_purge = time.monotonic()
        self.identity = file_identity(path)
        #: held by whoever uses the connection: the home loop from its BEGIN until the thread's COMMIT of
        #: that group, or the thread for its own groups and the purge
        self.lock = threading.Lock()
        #: whether the connection waits for another connection's write lock (the thread) or not (the loop)
        self._waits = True
        #: the results of the batch :meth:`_run_plain` ran last (one list, reused)
        self._results: list[Any] = []
        #: the event loop whose units run on its own thread, its units waiting for a group, and whether one
        #: of its groups is running or being committed
        self._home: asyncio.AbstractEventLoop | None = None
        self._home_queue: list[_Job] = []
        self._home_busy = False

    def submit(
        self, unit: Unit, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop, bulk: bool = False
    ) -> None:
        """Queue ``unit``; ``future`` (of ``loop``, the caller's) gets its result once it is durable. A
        ``bulk`` unit (one that may take long) runs on the writer thread whatever the loop."""
        if self.stopping or self.finished:
            raise StoreUnavailable(f"SQLite store {self.path} is closed")
        if bulk or not self._is_home(loop):
            self.queue.put((unit, future, loop))
            return
        self._home_queue.append((unit, future, loop))
        if not self._home_busy:
            self._home_busy = True
            loop.call_soon(self._run_home_group)

    def _is_home(self, loop: asyncio.AbstractEventLoop) -> bool:
        home = self._home
        if home is loop:
            return True
        if home is None or (home.is_closed() and not self._home_busy and not self._home_queue):
            self._home = loop
            return True
        return False

    def stop(self) -> None:
        """Commit what is queued, then stop (units of the home loop not yet run go to the thread)."""
        self.stopping = True
        waiting, self._home_queue = self._home_queue, []
        for job in waiting:
            self.queue.put(job)
        self.queue.put(_STOP)

    def run(self) -> None:
        try:
            self._serve()
        finally:
            self.finished = True
            self._fail_leftovers()
            self.conn.close()

    # ------------------------------------------------------------------ the home loop's groups
    def _run_home_group(self) -> None:
        """On the home loop: BEGIN and run up to :data:`LOOP_UNITS_PER_COMMIT` units, then queue the COMMIT."""
        jobs = self._home_queue[:LOOP_UNITS_PER_COMMIT]
        del self._home_queue[:LOOP_UNITS_PER_COMMIT]
        if not jobs:
            self._home_busy = False
            return
        if self.stopping or not self.lock.acquire(blocking=False):
            # the thread holds the connection (a purge, a bulk unit): it runs this group after its own
            self._hand_to_thread(jobs)
            return
        try:
            self._begin(wait=False)
        except sqlite3.Error as exc:
            self.lock.release()
            if getattr(exc, "sqlite_errorcode", None) in BUSY_CODES:
                # another connection is writing: the thread waits for it (within the busy timeout), never the loop
                self._hand_to_thread(jobs)
                return
            error = translate_error(exc, self.path)
            self._answer_home([_Outcome(fut, loop, error=error) for _, fut, loop in jobs])
            return
        try:
            group = self._run_units(jobs, wait=False)
        except BaseException:
            self._rollback()
            self.lock.release()
            raise
        if not group.open:
            self.lock.release()
            self._answer_home(group.outcomes)
            return
        assert self._home is not None  # this runs on it
        self.queue.put(_LoopGroup(group, self._home))

    def _hand_to_thread(self, jobs: list[_Job]) -> None:
        for job in jobs:
            self.queue.put(job)
        self._next_home_group()

    def _answer_home(self, outcomes: list[_Outcome]) -> None:
        """On the home loop: resolve a group's futures, then start the next group when units wait. The
        next group starts after the callers woken here have run, so what they write next joins it."""
        _resolve(outcomes)
        self._next_home_group()

    def _next_home_group(self) -> None:
        if self._home_queue and self._home is not None:
            self._home.call_soon(self._run_home_group)
        else:
            self._home_busy = False

    def _commit_loop_group(self, item: _LoopGroup) -> None:
        """On the thread: end a group the home loop ran, let go of the connection, answer on the loop."""
        try:
            outcomes = self._end(item.group)
        finally:
            self.lock.release()
        try:
            item.loop.call_soon_threadsafe(self._answer_home, outcomes)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    # ------------------------------------------------------------------ the thread
    def _serve(self) -> None:
        stop = False
        while not stop:
            timeout = max(0.0, self.next_purge - time.monotonic())
            item: Any
            try:
                item = self.queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            batch: list[_Job] = []
            while item is not None:
                stop = self._take(item, batch) or stop
                if len(batch) >= MAX_UNITS_PER_COMMIT:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    item = None
            purge = time.monotonic() >= self.next_purge
            if not batch and not purge:
                continue
            stop = self._take_connection(batch) or stop
            outcomes: list[_Outcome] = []
            try:
                if batch:
                    outcomes = self._commit_batch(batch)
                if purge:
                    self._purge()
            finally:
                self.lock.release()
                # answered once the connection is free, so what the callers write next runs on their loop
                _deliver(outcomes)

    def _take_connection(self, batch: list[_Job]) -> bool:
        """Hold :attr:`lock` for the thread's own work; True when the stop came meanwhile. While the loop
        holds the lock, the COMMIT of its group is queued or about to be: take it (and what comes before it,
        into ``batch``) and end that group first."""
        stop = False
        while not self.lock.acquire(blocking=False):
            try:
                item = self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
            stop = self._take(item, batch) or stop
        return stop

    def _take(self, item: Any, batch: list[_Job]) -> bool:
        """One item of the queue: a unit joins ``batch``, a loop's group is ended at once; True for the stop."""
        if item is _STOP:
            return True
        if isinstance(item, _LoopGroup):
            self._commit_loop_group(item)
        else:
            batch.append(item)
        return False

    def _commit_batch(self, batch: list[_Job]) -> list[_Outcome]:
        try:
            self._begin(wait=True)
        except sqlite3.Error as exc:
            error = translate_error(exc, self.path)
            return [_Outcome(fut, loop, error=error) for _, fut, loop in batch]
        return self._end(self._run_units(batch, wait=True))

    # ------------------------------------------------------------------ one group, on either side
    def _begin(self, wait: bool) -> None:
        """BEGIN IMMEDIATE, waiting for another connection's write lock (up to the busy timeout) or not."""
        if file_identity(self.path) != self.identity:
            # SQLite would keep writing to the unlinked file and lose everything on restart
            raise sqlite3.OperationalError(f"database file {self.path} is gone or was replaced")
        if wait != self._waits:
            self.conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000) if wait else 0}")
            self._waits = wait
        self.conn.execute("BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:  # some errors (a full disk) end the transaction themselves
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _run_units(self, batch: list[_Job], wait: bool) -> _Group:
        """Run ``batch`` in the transaction just begun."""
        conn, path = self.conn, self.path
        failed = self._run_plain(batch)
        if failed is None:
            outcomes = [
                _Outcome(fut, loop, result) for (_, fut, loop), result in zip(batch, self._results, strict=True)
            ]
            return _Group(outcomes, set(self.tenants.pending), None, True)
        # a unit failed: nothing of this transaction is kept; a lone unit's error is its answer, a group
        # runs again with a savepoint per unit so only the failing one is rolled back
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if len(batch) == 1:
                return _Group(
                    [_Outcome(batch[0][1], batch[0][2], error=translate_error(failed, path))], set(), None, False
                )
            self._begin(wait)
        except sqlite3.Error as exc:
            error = translate_error(exc, path)
            return _Group([_Outcome(fut, loop, error=error) for _, fut, loop in batch], set(), None, False)
        outcomes, committed_tenants, broken = self._run_isolated(batch)
        return _Group(outcomes, committed_tenants, broken, True)

    def _end(self, group: _Group) -> list[_Outcome]:
        """COMMIT the group's transaction (or roll it back when it broke); the outcomes to deliver."""
        outcomes = group.outcomes
        if not group.open:
            return outcomes
        broken = group.broken
        if broken is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                broken = translate_error(exc, self.path)
        if broken is not None:
            log.error("SQLite commit of %d units failed: %s", len(outcomes), broken)
            self.stats["failed_commits"] += 1
            self._rollback()
            for outcome in outcomes:
                if outcome.error is None:
                    outcome.result, outcome.error = None, broken
        else:
            self.tenants.committed |= group.committed_tenants
            self.stats["commits"] += 1
            self.stats["units"] += len(outcomes)
        return outcomes

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
                self._begin(wait=True)
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
            if isinstance(item, _LoopGroup):
                self._commit_loop_group(item)
            elif item is not _STOP:
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
