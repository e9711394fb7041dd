"""Counters per listener, exposed as a dict (``Gateway.metrics()``) and by the web app at ``GET /-/metrics``.

Plugins add their own counters to the listener a session belongs to with :func:`count`
(``count(session, "unstable")``); they appear under ``"plugin"`` in the listener's metrics.
"""

from __future__ import annotations

from collections import Counter
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
    #: refused connections by reason: ``not_allowed``, ``too_many``, ``shutting_down``
    rejected: Counter = field(default_factory=Counter)
    #: closed sessions by reason (the reasons of ``specgate_connection_closed``)
    closed: Counter = field(default_factory=Counter)
    frames_ok: int = 0
    frames_bad: int = 0
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


def count(session: Session, name: str, amount: int = 1) -> None:
    """Add ``amount`` to the plugin counter ``name`` of the listener ``session`` arrived on.

    Does nothing for a session the runtime did not create (a plugin unit test's hand-made session).
    """
    metrics = session.state.get(STATE_KEY)
    if isinstance(metrics, ListenerMetrics):
        metrics.plugin[name] += amount
