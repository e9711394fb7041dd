"""The exchange log of sessions that closed, written behind them in batches."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from core.gateway.metrics import dropped_note

if TYPE_CHECKING:
    from core.gateway.metrics import ListenerMetrics, LogLimiter
    from core.store import Store

log = logging.getLogger("specgate.gateway")

#: entries that may wait for the store at most (while it is slow or down); beyond, new ones are counted and dropped
EXCHANGE_BACKLOG = 10_000


class TrailingExchanges:
    """One listener's exchange-log entries of closed sessions, written behind them.

    The entries that arrive while a batch is being written make the next batch: one ``store.log_exchanges``
    call (one unit of a group commit on SQLite) for a burst of sessions rather than one write, future and
    wait per session. The log is not what acknowledges a report (the reply was sent before the session
    closed), so no session waits for it. What fails, is dropped beyond :data:`EXCHANGE_BACKLOG` or is still
    unwritten when the listener stops is counted in ``exchange_log_failures`` and logged within limits.
    """

    def __init__(
        self,
        name: str,
        store: Store,
        metrics: ListenerMetrics,
        limiter: LogLimiter,
        backlog: int = EXCHANGE_BACKLOG,
    ) -> None:
        self.name = name
        self.store = store
        self.metrics = metrics
        self.limiter = limiter
        self.backlog = backlog
        self._pending: list[dict[str, Any]] = []
        self._in_flight = 0
        self._writing: asyncio.Task[None] | None = None

    def add(self, entry: dict[str, Any]) -> None:
        """Queue ``entry`` for the next batch (on the running event loop)."""
        if len(self._pending) >= self.backlog:
            self.metrics.exchange_log_failures += 1
            self._failed(1, f"{self.backlog} entries already wait for the store")
            return
        self._pending.append(entry)
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write_batches())

    async def _write_batches(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
                try:
                    await self.store.log_exchanges(batch)
                except Exception as exc:
                    self.metrics.exchange_log_failures += len(batch)
                    self._failed(len(batch), repr(exc))
                self._in_flight = 0
        finally:
            self._writing = None

    def _failed(self, count: int, why: str) -> None:
        dropped = self.limiter.allow("exchange_log")
        if dropped is not None:
            log.error(
                "%s: could not log the exchange of %d session(s): %s%s", self.name, count, why, dropped_note(dropped)
            )

    async def finish(self, timeout: float, cancel_wait: float) -> None:
        """Wait up to ``timeout`` for what is queued; what is not written by then is given up and counted."""
        task = self._writing
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if done:
            return
        given_up = self._in_flight + len(self._pending)
        self._pending = []
        task.cancel()
        await asyncio.wait({task}, timeout=cancel_wait)
        self.metrics.exchange_log_failures += given_up
        log.error(
            "%s: %d exchange log write(s) not committed within %.1fs of stopping, given up",
            self.name,
            given_up,
            timeout,
        )
