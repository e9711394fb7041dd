"""Values passed between the gateway runtime and device plugins."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

if TYPE_CHECKING:
    from core.spec import Spec
    from core.store import Store


@dataclass
class ListenerConfig:
    """One TCP listener: a port bound to a device type (the name of a spec) and its options."""

    device_type: str
    port: int
    host: str = "0.0.0.0"
    #: device-type options, e.g. ``{"scale_id": "scale-02"}`` or ``{"tenant": "gas_demo"}``
    options: dict[str, Any] = field(default_factory=dict)
    idle_timeout: float = 60.0
    max_frame_length: int = 4096
    max_connections: int = 1000
    #: IPs or CIDR networks allowed to connect; empty means everyone
    allow: list[str] = field(default_factory=list)


@dataclass
class Session:
    """One device connection, as plugins see it. ``state`` is the plugin's scratch space."""

    device_type: str
    peer_host: str
    peer_port: int
    listen_port: int
    listener: ListenerConfig
    spec: "Spec"
    store: "Store"
    #: the loaded configuration (``core.config.Config``)
    config: Any
    opened_at: float
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a plugin decided for one decoded message.

    The runtime first awaits ``store(store)`` (everything the message reported, committed), then builds
    ``reply`` with the spec message ``reply_message`` (or the ``specgate_build_reply`` hook) and writes it,
    then closes the connection when ``close`` is set. If ``store`` raises, nothing is replied.
    """

    store: Callable[["Store"], Awaitable[Any]] | None = None
    reply_message: str | None = None
    reply: dict[str, Any] | None = None
    close: bool = False
    #: set by the runtime: the bytes actually sent
    sent: bytes = b""
