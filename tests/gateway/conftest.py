"""Fixtures for runtime tests: the ``echo`` line protocol plugged into a real gateway on loopback."""

from __future__ import annotations

import contextlib

import pytest

from core.config import Config, ListenerConfig
from core.gateway.runtime import Gateway
from tests.gateway.doubles import DEVICE_TYPE, EchoPlugin, LineSpec, plugin_manager_with


@pytest.fixture
def echo_plugin() -> EchoPlugin:
    return EchoPlugin()


@pytest.fixture
def echo_pm(echo_plugin):
    return plugin_manager_with(echo=echo_plugin)


@pytest.fixture
async def start_echo(store, echo_pm):
    """``await start_echo(**listener_fields)`` -> a started Gateway with one ``echo`` listener on port 0."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(config: Config | None = None, **fields) -> Gateway:
            fields.setdefault("host", "127.0.0.1")
            listener = ListenerConfig(DEVICE_TYPE, 0, **fields)
            gateway = Gateway(config or Config(), store, echo_pm, listeners=[listener], specs={DEVICE_TYPE: LineSpec()})
            await stack.enter_async_context(gateway)
            return gateway

        yield start
