"""Accepted connections, web and device alike, send small answers at once (TCP_NODELAY), on asyncio's event
loop and on uvloop's: with Nagle's algorithm a keep-alive HTTP answer written as head and body waits for the
client's delayed ACK, about 40 ms."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from core.api import ListenerConfig
from core.cli.serve import start_web, web_server
from core.config import Config
from core.gateway.runtime import Gateway
from core.plugins import get_plugin_manager
from core.store import open_store
from web.app import create_app


def loops() -> list[Callable[[], asyncio.AbstractEventLoop]]:
    factories: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
    try:
        import uvloop
    except ImportError:
        return factories
    return [*factories, uvloop.new_event_loop]


def nodelay(transport_socket: socket.socket) -> int:
    return transport_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def accepted_nodelay(db: Path) -> tuple[list[int], list[int]]:
    """TCP_NODELAY of the server's side of a web connection and of a device connection."""
    config = Config(web_host="127.0.0.1", web_port=0)
    pm = get_plugin_manager(enabled=["gas_meter"], disabled=[], installed=False)
    async with open_store(f"sqlite:///{db}") as store:
        server = web_server(create_app(config, store, pm), config)
        task, address = await start_web(server, config)
        listeners = [ListenerConfig("gas_meter", 0, "127.0.0.1")]
        try:
            async with Gateway(config, store, pm, listeners=listeners) as gateway:
                port = int(address.rstrip("/").rsplit(":", 1)[1])
                web_writer = (await asyncio.open_connection("127.0.0.1", port))[1]
                device_writer = (await asyncio.open_connection("127.0.0.1", gateway.port("gas_meter")))[1]
                for _ in range(200):
                    if server.server_state.connections and gateway.listeners[0]._waiting:
                        break
                    await asyncio.sleep(0.01)
                web = [nodelay(p.transport.get_extra_info("socket")) for p in server.server_state.connections]
                device = [nodelay(w.get_extra_info("socket")) for w in gateway.listeners[0]._waiting]
                web_writer.close()
                device_writer.close()
        finally:
            server.should_exit = True
            await task
    return web, device


@pytest.mark.parametrize("loop_factory", loops(), ids=lambda factory: factory.__module__.split(".")[0])
def test_accepted_web_and_device_connections_have_tcp_nodelay(loop_factory, tmp_path):
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        web, device = runner.run(accepted_nodelay(tmp_path / "x.db"))
    assert len(web) == 1 and all(web), web
    assert len(device) == 1 and all(device), device
