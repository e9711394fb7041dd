"""How long the store takes: every call of the :class:`~core.store.Store` interface timed in one place.

:func:`timed_store` wraps a store so that each of its interface methods records its duration, by
operation (the method's name), in a :class:`StoreTimings`; the web app exports these as the
``specgate_store_seconds`` histogram. The wrapper changes nothing else: it hands every call, its result
and its exception through unchanged. Wrapping a store that is already wrapped returns it as it is, so
whoever opens the store can wrap it once for everything that uses it.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from core.store.base import Store

#: upper bounds in seconds; an embedded SQLite read takes well under a millisecond, a MongoDB write a few
STORE_SECONDS_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def store_operations() -> frozenset[str]:
    """The coroutine methods of the Store interface: the only operations timed, so their number is bounded."""
    return frozenset(
        name for name, value in vars(Store).items() if not name.startswith("_") and inspect.iscoroutinefunction(value)
    )


@dataclass
class Distribution:
    """One operation's durations: how many fell at or under each bucket's bound (not cumulative), the rest
    beyond the last, their sum and their count."""

    counts: list[int]
    total: float = 0.0
    count: int = 0


@dataclass
class StoreTimings:
    """Durations of store calls by operation, bucketed as a Prometheus histogram is."""

    buckets: tuple[float, ...] = STORE_SECONDS_BUCKETS
    operations: dict[str, Distribution] = field(default_factory=dict)

    def observe(self, operation: str, seconds: float) -> None:
        entry = self.operations.get(operation)
        if entry is None:
            entry = self.operations[operation] = Distribution([0] * (len(self.buckets) + 1))
        entry.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        entry.total += seconds
        entry.count += 1

    def cumulative(self, operation: str) -> list[tuple[float, int]]:
        """``(upper bound, calls at or under it)`` per bucket, the last bound being infinity."""
        entry = self.operations[operation]
        bounds = [*self.buckets, float("inf")]
        running, pairs = 0, []
        for bound, count in zip(bounds, entry.counts, strict=True):
            running += count
            pairs.append((bound, running))
        return pairs


class TimedStore:
    """A store whose interface calls are timed into ``timings``; everything else passes straight through."""

    _OPERATIONS = store_operations()

    def __init__(self, store: Store, timings: StoreTimings) -> None:
        self.wrapped = store
        self.timings = timings

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.wrapped, name)
        if name not in self._OPERATIONS or not callable(value):
            return value
        timed = _timed(value, name, self.timings)
        setattr(self, name, timed)  # the next lookup finds it without coming here
        return timed


def _timed(method: Callable[..., Awaitable[Any]], operation: str, timings: StoreTimings) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            timings.observe(operation, time.perf_counter() - start)

    return call


def timed_store(store: Store, timings: StoreTimings | None = None) -> Store:
    """``store`` with its calls timed (into ``timings``, or new ones); a store already timed is returned
    unchanged, its timings kept."""
    if isinstance(store, TimedStore):
        return store
    return cast(Store, TimedStore(store, timings or StoreTimings()))


def store_timings(store: Store) -> StoreTimings | None:
    """The timings a store made by :func:`timed_store` records into; None for a store not timed."""
    return store.timings if isinstance(store, TimedStore) else None
