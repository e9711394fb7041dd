"""A real gateway with the fg150kal plugin on loopback, and a web app on another store instance."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from core.config import Config, ListenerConfig
from core.gateway.runtime import Gateway
from core.plugins import get_plugin_manager
from tests.web.support import T0, Clock
from web.app import create_app


@pytest.fixture
def scale_pm():
    return get_plugin_manager(enabled=["fg150kal"], disabled=[], installed=False)


@pytest.fixture
async def scale_gateway(two_stores, scale_pm, live_clock):
    """``await scale_gateway(*listeners, **config_fields)`` -> a started Gateway writing to the first store,
    on the test's clock (as the web app is).

    Listeners default to one fg150kal listener on an ephemeral loopback port; unset fields and options come
    from the plugin's default scale listener.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(*listeners: ListenerConfig, **fields) -> Gateway:
            chosen = list(listeners) or [ListenerConfig("fg150kal", 0, "127.0.0.1")]
            gateway = Gateway(Config(listeners=chosen, **fields), two_stores[0], scale_pm, clock=live_clock)
            return await stack.enter_async_context(gateway)

        yield start


@pytest.fixture
def live_clock() -> Clock:
    """The one clock of the gateway and the web app: the test moves it, never the wall."""
    return Clock(T0)


@pytest.fixture
async def web(two_stores, scale_pm, live_clock):
    """An httpx client on the web app over the *second* store instance (as another process would have)."""
    app = create_app(Config(), two_stores[1], scale_pm, clock=live_clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://specgate.test") as client:
        yield client
