"""``core.app.Application``: one process put together the way ``specgate serve`` does it."""

from __future__ import annotations

import httpx
import pytest

from core.app import Application
from core.config import ListenerConfig, load_config
from core.errors import StoreUnavailable
from tests.gateway.doubles import connect, eventually
from tests.web.support import T0, Clock


async def test_a_scale_line_received_by_the_gateway_is_served_by_the_web_app(backend_url):
    url, options = backend_url
    config = load_config(env={}, store_url=url, listeners_enabled=False, listen=["fg150kal:0:host=127.0.0.1"])
    config.store_options = options
    clock = Clock(T0)
    async with Application(config, clock=clock) as app:
        _reader, writer = await connect(app.gateway.port("fg150kal"))
        writer.write(b"ST,+00053.25 kg\r\n")
        await writer.drain()
        await eventually(lambda: app.gateway.metrics()["listeners"][0]["plugin"].get("stable") == 1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.web), base_url="http://test") as web:
            body = (await web.get("/api/scale-gateway/latest/")).json()
        assert (body["weight"], body["stale"], body["received_at"]) == (53.25, False, "2025-12-18T12:00:00+09:00")
        writer.close()
        store = app.store
    with pytest.raises(StoreUnavailable):  # the application opened the store, so it closed it
        await store.get_scale_latest("default")


async def test_a_web_only_process_and_a_given_store(store):
    config = load_config(env={}, listeners_enabled=False)
    async with Application(config, store=store) as app:
        assert app.gateway.endpoints() == [] and app.store is store
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.web), base_url="http://test") as web:
            assert (await web.get("/-/metrics")).json() == {"listeners": []}
    assert await store.get_scale_latest("default") is None  # a store passed in stays open


async def test_a_gateway_only_process_has_no_web_app(store):
    config = load_config(env={}, web_enabled=False, listeners_enabled=False, listen=["gas_meter:0:host=127.0.0.1"])
    async with Application(config, store=store, listeners=[ListenerConfig("gas_meter", 0, "127.0.0.1")]) as app:
        assert len(app.gateway.listeners) == 1
        with pytest.raises(RuntimeError, match="web app is disabled"):
            _ = app.web
    with pytest.raises(RuntimeError, match="not started"):
        _ = Application(config).store
