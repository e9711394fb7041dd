"""A deadline on the awaits of a device session, as ``asyncio.timeout_at`` sets one, for the hot path."""

from __future__ import annotations

import asyncio
from types import TracebackType


class Deadline:
    """``asyncio.timeout_at(when)`` for a task and loop given once, entered with a plain ``with`` as many
    times as the session reads (one at a time).

    asyncio's looks the running loop up three times per use (a ``getpid`` system call each, on Python 3.11)
    and is an asynchronous context manager (two more awaits per read). The semantics are asyncio's: when
    the deadline passes, the task is cancelled, and the cancellation leaves the block as ``TimeoutError``
    unless someone else cancelled the task too."""

    __slots__ = ("_cancelling", "_expired", "_handle", "_loop", "_task", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        self._loop = loop
        self._task = task
        self._when = 0.0
        self._expired = False
        self._cancelling = 0
        self._handle: asyncio.TimerHandle | None = None

    def at(self, when: float) -> Deadline:
        """This deadline, set to loop time ``when`` for the next ``with``."""
        self._when = when
        return self

    def __enter__(self) -> Deadline:
        self._expired = False
        self._cancelling = self._task.cancelling()
        self._handle = self._loop.call_at(self._when, self._expire)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def _expire(self) -> None:
        self._handle = None
        self._expired = True
        self._task.cancel()
