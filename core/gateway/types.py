"""Values passed between the gateway runtime and device plugins."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config.listeners import ListenerConfig

if TYPE_CHECKING:
    from core.config import Config
    from core.spec import Spec
    from core.store import Store

__all__ = ["ListenerConfig", "Outcome", "Session"]


@dataclass
class Session:
    """One device connection, as plugins see it. ``state`` is the plugin's scratch space.

    ``now()`` is the runtime's clock: plugins stamp what they store with it, never with ``time.time()``,
    so a test (or a replay) that gives the gateway another clock controls every timestamp.

    ``device_id`` and ``tenant`` attribute the connection: a plugin sets them once it knows which device is
    talking (the id the device gave) and which tenant holds that device (None while it holds none). Each
    exchange logged afterwards carries them as ``device_uid`` and ``tenant``, which is how a tenant's users
    get to see their own devices' exchanges and nobody else's.
    """

    device_type: str
    peer_host: str
    peer_port: int
    listen_port: int
    listener: ListenerConfig
    spec: Spec
    store: Store
    config: Config
    opened_at: float
    state: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    device_id: str | None = None
    tenant: str | None = None

    def now(self) -> float:
        """The current time in epoch seconds, from the gateway's clock."""
        return self.clock()


@dataclass
class Outcome:
    """What a plugin decided for one decoded message.

    The runtime first awaits ``store(store)`` (everything the message reported, committed), then builds
    ``reply`` with the spec message ``reply_message`` (or the ``specgate_build_reply`` hook) and writes it,
    then closes the connection when ``close`` is set. If ``store`` raises, nothing is replied: a store error
    counts as a store failure, a ``FrameError`` as a bad frame and anything else as a handler error.

    ``store`` may set ``reply`` itself, for a reply that depends on what the store read in the same step
    (the gas meter's: the device document is read, and the report planned, inside the unit that records it).
    The runtime calls ``store`` once and then sets it to None, so such a step, which refers to its outcome,
    leaves no reference cycle for the garbage collector to find.
    """

    store: Callable[[Store], Awaitable[Any]] | None = None
    reply_message: str | None = None
    reply: dict[str, Any] | None = None
    close: bool = False
    #: set by the runtime: the bytes actually sent
    sent: bytes = b""
