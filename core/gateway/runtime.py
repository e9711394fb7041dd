"""The gateway: one asyncio TCP server per configured listener, all in the current event loop.

Run one in-process (tests, embedding) with ephemeral ports::

    from core.config import Config, ListenerConfig
    from core.gateway.runtime import Gateway

    config = Config(listeners=[ListenerConfig("meter", port=0, host="127.0.0.1")])
    async with Gateway(config, store, pm) as gateway:      # store opened by the caller
        port = gateway.port("meter")                        # the bound ephemeral port
        ...                                                 # connect to 127.0.0.1:port
        gateway.metrics()                                   # counters per listener

Port 0 in a listener means "any free port". ``pm`` defaults to ``core.plugins.get_plugin_manager`` with the
configuration's plugin selection; ``clock`` (default ``time.time``) is every session's ``now()``. Leaving the
``async with`` block stops accepting, lets in-flight sessions finish within ``config.shutdown_grace``
seconds, then closes the rest. Listener options are described in :mod:`core.gateway.listener`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from core.config import Config, ListenerConfig, with_listener_defaults
from core.config.options import check_listener_options
from core.errors import ConfigError
from core.gateway.device_hooks import DeviceHooks
from core.gateway.listener import Listener
from core.plugins import declared_options, device_owners, get_plugin_manager, load_specs

if TYPE_CHECKING:
    from core.spec import Spec
    from core.store import Store

log = logging.getLogger("specgate.gateway")


def declared_listeners(config: Config, pm: pluggy.PluginManager) -> list[ListenerConfig]:
    """The listeners the plugins declare (``specgate_declare_listeners``), in plugin order."""
    declared: list[ListenerConfig] = []
    for result in reversed(pm.hook.specgate_declare_listeners(config=config)):
        declared.extend(result or [])
    return declared


def resolve_listeners(config: Config, pm: pluggy.PluginManager) -> list[ListenerConfig]:
    """The listeners to run: the configured ones (or the plugins' defaults), then ``--listen`` additions.

    Configured listeners take unset fields and missing options from the plugin-declared default of their
    device type. An added listener replaces any listener on the same (non-zero) port. A listener option that
    its plugin declares as a device option is checked (and converted) here, at start-up.
    """
    declared = declared_listeners(config, pm)
    defaults: dict[str, ListenerConfig] = {}
    for listener in declared:
        defaults.setdefault(listener.device_type, listener)
    chosen = (
        list(declared)
        if config.listeners is None
        else [with_listener_defaults(entry, defaults.get(entry.device_type)) for entry in config.listeners]
    )
    for extra in config.extra_listeners:
        extra = with_listener_defaults(extra, defaults.get(extra.device_type))
        if extra.port:
            chosen = [entry for entry in chosen if entry.port != extra.port]
        chosen.append(extra)
    options = declared_options(pm)
    seen: dict[int, str] = {}
    for entry in chosen:
        check_listener_options(entry, options)
        if entry.port and entry.port in seen:
            raise ConfigError(f"port {entry.port} is configured twice ({seen[entry.port]} and {entry.device_type})")
        seen[entry.port] = entry.device_type
    return chosen


class Gateway:
    """Every listener of a configuration, started and stopped together."""

    def __init__(
        self,
        config: Config,
        store: Store,
        pm: pluggy.PluginManager | None = None,
        *,
        listeners: Iterable[ListenerConfig] | None = None,
        specs: Mapping[str, Spec] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self._pm = pm
        self._listener_configs = list(listeners) if listeners is not None else None
        self._specs = specs
        self.clock = clock
        self.listeners: list[Listener] = []

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            self._pm = get_plugin_manager(self.config.plugins, self.config.disable_plugins)
        return self._pm

    async def start(self) -> None:
        pm = self.pm
        specs = self._specs if self._specs is not None else load_specs(pm)
        configs = self._listener_configs if self._listener_configs is not None else resolve_listeners(self.config, pm)
        owners = device_owners(pm)
        try:
            for listener_config in configs:
                listener_config.check(f"listener {listener_config.device_type}:{listener_config.port}")
                if listener_config.device_type not in specs:
                    raise ConfigError(
                        f"listener on port {listener_config.port} names device type "
                        f"{listener_config.device_type!r}, which no loaded spec provides; known: {', '.join(sorted(specs))}"
                    )
                listener = Listener(
                    listener_config,
                    specs[listener_config.device_type],
                    store=self.store,
                    hooks=DeviceHooks(pm, listener_config.device_type, owners),
                    app_config=self.config,
                    clock=self.clock,
                )
                try:
                    await listener.start()
                except OSError as exc:
                    raise ConfigError(
                        f"cannot listen on {listener_config.host}:{listener_config.port} "
                        f"for {listener_config.device_type}: {exc.strerror or exc}"
                    ) from None
                self.listeners.append(listener)
        except BaseException:
            await self.stop(grace=0)
            raise

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting everywhere; give in-flight sessions ``grace`` seconds (default from the config)."""
        grace = self.config.shutdown_grace if grace is None else grace
        listeners = [listener for listener in self.listeners if not listener.closing]
        for listener in listeners:
            listener.stop_accepting()
        await asyncio.gather(*(listener.stop(grace) for listener in listeners))

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ inspection
    def listener(self, device_type: str, index: int = 0) -> Listener:
        """The ``index``-th running listener of ``device_type``."""
        matching = [listener for listener in self.listeners if listener.config.device_type == device_type]
        if index >= len(matching):
            running = ", ".join(listener.name for listener in self.listeners) or "none"
            raise ConfigError(f"no listener #{index} for device type {device_type!r}; running: {running}")
        return matching[index]

    def port(self, device_type: str, index: int = 0) -> int:
        """The bound port of the ``index``-th listener of ``device_type``."""
        return self.listener(device_type, index).port

    def endpoints(self) -> list[str]:
        """``device_type on host:port`` for every running listener."""
        return [f"{entry.config.device_type} on {entry.config.host}:{entry.port}" for entry in self.listeners]

    def metrics(self) -> dict[str, Any]:
        """Counters of every listener (kept after stop): ``{"listeners": [{name, device_type, host, port, ...}]}``."""
        return {"listeners": [listener.as_dict() for listener in self.listeners]}
