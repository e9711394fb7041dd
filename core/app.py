"""One specgate process put together: the store, the plugins, the device gateway and the web app.

``specgate serve`` and the tests build the process the same way::

    config = load_config(...)
    async with Application(config) as app:      # store opened, listeners started
        app.gateway.port("meter")                # bound ports (0 in the configuration = any free port)
        app.web                                  # the Starlette app, to serve with uvicorn or test with httpx

Leaving the block stops the listeners (in-flight sessions get ``config.shutdown_grace`` seconds) and then
closes the store. A store passed in is the caller's to close; one the application opened, it closes itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import pluggy
from starlette.applications import Starlette

from core.config import Config, ListenerConfig
from core.gateway.runtime import Gateway
from core.observability import timed_store
from core.plugins import get_plugin_manager
from core.store import Store, open_store
from web.app import create_app

if TYPE_CHECKING:
    from core.spec import Spec


class Application:
    """The store, the gateway (with no listener at all in a web-only process) and the web app (unless
    disabled)."""

    def __init__(
        self,
        config: Config,
        *,
        pm: pluggy.PluginManager | None = None,
        store: Store | None = None,
        listeners: Iterable[ListenerConfig] | None = None,
        specs: Mapping[str, Spec] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.pm = pm or get_plugin_manager(config.plugins, config.disable_plugins)
        self._given_store = store
        self._listeners = list(listeners) if listeners is not None else None
        self._specs = specs
        self.clock = clock
        self._stack = contextlib.AsyncExitStack()
        self._store: Store | None = store
        self._gateway: Gateway | None = None
        self._web: Starlette | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the application is not started: use 'async with Application(...)'")
        return self._store

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the application is not started, or runs no device listener")
        return self._gateway

    @property
    def web(self) -> Starlette:
        if self._web is None:
            raise RuntimeError("the application is not started, or its web app is disabled")
        return self._web

    async def start(self) -> None:
        try:
            if self._given_store is None:
                self._store = await self._stack.enter_async_context(
                    open_store(self.config.store_url, **self.config.store_options)
                )
            timed = timed_store(self.store)  # device sessions' store calls are timed like the web's
            self._gateway = Gateway(
                self.config, timed, self.pm, listeners=self._listeners, specs=self._specs, clock=self.clock
            )
            await self._stack.enter_async_context(self._gateway)
            if self.config.web_enabled:
                self._web = create_app(self.config, timed, self.pm, gateway=self._gateway, clock=self.clock)
        except BaseException:
            await self._stack.aclose()
            raise

    async def stop(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> Application:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
