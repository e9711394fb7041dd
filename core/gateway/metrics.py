"""Counters per listener, exposed as a dict (``Gateway.metrics()``) and by the web app at ``GET /-/metrics``.

Plugins add their own counters to the listener a session belongs to with :func:`count`
(``count(session, "unstable")``); they appear under ``"plugin"`` in the listener's metrics.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.gateway.types import Session

#: the key of ``Session.state`` under which the runtime keeps the listener's metrics
STATE_KEY = "specgate.metrics"


@dataclass
class ListenerMetrics:
    """What one listener has seen since it started."""

    accepted: int = 0
    active: int = 0
    #: refused connections by reason: ``not_allowed``, ``too_many``, ``too_many_from_address``,
    #: ``no_first_byte``, ``shutting_down``, ``untrusted_proxy``, ``bad_proxy_header``
    rejected: Counter = field(default_factory=Counter)
    #: closed sessions by reason (the reasons of ``specgate_connection_closed``)
    closed: Counter = field(default_factory=Counter)
    frames_ok: int = 0
    frames_bad: int = 0
    #: bytes received that were not part of a frame: skipped, over-long, cut off by the end of the
    #: connection, or left unread in the buffer when it closed (frames that fail to decode are frames_bad)
    junk_bytes: int = 0
    dead_letters: int = 0
    store_failures: int = 0
    handler_errors: int = 0
    replies: int = 0
    exchange_log_failures: int = 0
    #: counters kept by device plugins through :func:`count`
    plugin: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "active": self.active,
            "rejected": dict(self.rejected),
            "closed": dict(self.closed),
            "frames_ok": self.frames_ok,
            "frames_bad": self.frames_bad,
            "junk_bytes": self.junk_bytes,
            "dead_letters": self.dead_letters,
            "store_failures": self.store_failures,
            "handler_errors": self.handler_errors,
            "replies": self.replies,
            "exchange_log_failures": self.exchange_log_failures,
            "plugin": dict(self.plugin),
        }


#: seconds over which repeated WARNING/ERROR lines of one kind are limited (see :class:`LogLimiter`)
LOG_INTERVAL = 10.0


def dropped_note(dropped: int) -> str:
    """What a line let through by :meth:`LogLimiter.allow` adds about the lines dropped before it."""
    return f" [{dropped} more such line(s) not logged since the last one]" if dropped else ""


class LogLimiter:
    """Lets at most ``burst`` lines of each key through per ``interval`` seconds and counts the others, so a
    flood (a thousand refused connections, a stream of junk) costs a few log lines, not one per event.

    ``allow(key)`` is None for a line to drop, otherwise how many lines of that key were dropped since the
    last one let through (for the line to say so); ``take_dropped()`` hands over the counts still unreported.
    """

    def __init__(
        self, interval: float = LOG_INTERVAL, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.burst = burst
        self.clock = clock
        #: key -> [start of the current interval, lines let through in it, lines dropped since the last one]
        self._windows: dict[str, list[float]] = {}

    def allow(self, key: str) -> int | None:
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.interval:
            dropped = int(window[2]) if window else 0
            self._windows[key] = [now, 1, 0]
            return dropped
        if window[1] < self.burst:
            window[1] += 1
            dropped, window[2] = int(window[2]), 0
            return dropped
        window[2] += 1
        return None

    def take_dropped(self) -> dict[str, int]:
        dropped = {key: int(window[2]) for key, window in self._windows.items() if window[2]}
        for window in self._windows.values():
            window[2] = 0
        return dropped


def count(session: Session, name: str, amount: int = 1) -> None:
    """Add ``amount`` to the plugin counter ``name`` of the listener ``session`` arrived on.

    Does nothing for a session the runtime did not create (a plugin unit test's hand-made session).
    """
    metrics = session.state.get(STATE_KEY)
    if isinstance(metrics, ListenerMetrics):
        metrics.plugin[name] += amount


def activity_summary(now: dict[str, Any], before: dict[str, Any]) -> str | None:
    """One line saying what a listener did between two ``as_dict()`` snapshots; None when it did nothing."""

    def delta(key: str) -> int:
        return int(now[key]) - int(before.get(key, 0))

    def counted(key: str) -> dict[str, int]:
        old = before.get(key, {})
        return {name: n - old.get(name, 0) for name, n in sorted(now.get(key, {}).items()) if n - old.get(name, 0)}

    closed, rejected = counted("closed"), counted("rejected")
    frames_ok, frames_bad, replies = delta("frames_ok"), delta("frames_bad"), delta("replies")
    if not (closed or rejected or frames_ok or frames_bad or delta("accepted")):
        return None
    parts = [f"{sum(closed.values())} session(s) closed" + (f" ({_listing(closed)})" if closed else "")]
    parts.append(f"{frames_ok} frame(s) ok, {frames_bad} bad, {replies} repl{'y' if replies == 1 else 'ies'}")
    if rejected:
        parts.append(f"{sum(rejected.values())} refused ({_listing(rejected)})")
    for key, label in (
        ("dead_letters", "dead letter(s)"),
        ("store_failures", "store failure(s)"),
        ("handler_errors", "handler error(s)"),
    ):
        if delta(key):
            parts.append(f"{delta(key)} {label}")
    plugin = counted("plugin")  # what the device plugins counted: their per-session lines are DEBUG
    if plugin:
        parts.append(_listing(plugin))
    parts.append(f"{now['active']} active")
    return ", ".join(parts)


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items())
