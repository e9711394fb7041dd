"""The app around the plugin routes: /-/plugins, /-/metrics, and the error shape of unexpected failures."""

from __future__ import annotations

import importlib.metadata
import logging
from decimal import Decimal

import httpx

from core.config import Config, ListenerConfig
from core.gateway.runtime import Gateway
from core.hookspecs import hookimpl
from core.http import dumps
from core.plugins import ENTRY_POINT_GROUP, describe_plugins, get_plugin_manager
from core.routing import ApiRoute
from tests.gateway.doubles import DEVICE_TYPE, EchoPlugin, LineSpec, connect, read_line
from tests.web.support import add_user, login
from web.app import create_app


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t")


async def test_plugins_endpoint_serves_what_the_cli_prints(store):
    pm = get_plugin_manager(enabled=None, disabled=[], installed=False)
    await add_user(store, "gas_demo", "op", "operator")
    async with client(create_app(Config(), store, pm)) as web:
        await login(web, "op")
        response = await web.get("/-/plugins")
    assert response.status_code == 200
    assert response.json() == describe_plugins(pm)
    built_ins = sorted(
        e.name for e in importlib.metadata.distribution("specgate").entry_points if e.group == ENTRY_POINT_GROUP
    )
    assert {"fg150kal", "gas_meter"} <= set(built_ins)
    assert [p["name"] for p in response.json()["plugins"]] == ["default_plugin", *built_ins]


async def test_metrics_endpoint_shows_the_in_process_gateway(store):
    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(EchoPlugin(), name="echo")
    listener = ListenerConfig(DEVICE_TYPE, 0, "127.0.0.1", on_bad_frame="skip")
    async with Gateway(Config(), store, pm, listeners=[listener], specs={DEVICE_TYPE: LineSpec()}) as gateway:
        reader, writer = await connect(gateway.port(DEVICE_TYPE))
        writer.write(b"NOPE\nPING 1\n")
        assert await read_line(reader) == b"PONG 1\n"
        writer.close()
        async with client(create_app(Config(), store, pm, gateway=gateway)) as web:
            body = (await web.get("/-/metrics")).json()
    [entry] = body["listeners"]
    assert (entry["device_type"], entry["port"], entry["accepted"], entry["frames_ok"], entry["replies"]) == (
        DEVICE_TYPE,
        gateway.port(DEVICE_TYPE),
        1,
        1,
        1,
    )
    assert entry["frames_bad"] == 1
    async with client(create_app(Config(), store, pm)) as web:
        assert (await web.get("/-/metrics")).json() == {"listeners": []}


class BrokenRoutes:
    @hookimpl
    def specgate_register_routes(self, config):
        async def broken(request, caller):
            raise RuntimeError("boom")

        return [ApiRoute("/broken", broken, methods=["GET"], public=True, summary="Fails")]


async def test_an_unexpected_failure_has_the_same_error_shape(store, caplog):
    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(BrokenRoutes(), name="broken")
    with caplog.at_level(logging.ERROR, logger="specgate.web"):
        async with client(create_app(Config(), store, pm)) as web:
            response = await web.get("/broken")
    assert response.status_code == 500
    assert response.json() == {
        "ok": False,
        "error": "internal_error",
        "message": "the server failed to handle the request; see its log",
    }
    assert "GET /broken failed" in caplog.text and "boom" in caplog.text


def test_dumps_writes_decimals_exactly():
    assert dumps({"w": Decimal("53.20"), "n": [Decimal("-0.05")], "b": b"\x01"}) == '{"w":53.20,"n":[-0.05],"b":"01"}'
