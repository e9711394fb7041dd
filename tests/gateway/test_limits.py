"""What a peer can make the runtime hold and log is bounded: silent connections, one address's share of
the slots, log lines of floods, the listen backlog (the ``echo`` protocol on loopback)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.gateway import listener as listener_module
from tests.gateway.doubles import TIMEOUT, connect, eventually, read_line, read_until_closed


def counters(gateway) -> dict:
    return gateway.metrics()["listeners"][0]


async def connect_from(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from another loopback address (all of 127.0.0.0/8 is local on Linux)."""
    try:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), TIMEOUT)
    except OSError as exc:
        pytest.skip(f"cannot connect from {source}: {exc}")


def warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


# --------------------------------------------------------------------------- connections


async def test_one_address_may_hold_only_its_share_of_the_slots(start_echo, caplog):
    gateway = await start_echo(max_connections=8, max_share_per_address=0.25)  # 2 per address
    port = gateway.port("echo")
    held = [await connect(port) for _ in range(2)]
    await eventually(lambda: gateway.listeners[0]._open == 2)
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        refused = [await connect(port) for _ in range(20)]
        for reader, _ in refused:
            assert await read_until_closed(reader) == b""
    assert counters(gateway)["rejected"] == {"too_many_from_address": 20}
    assert len(warnings(caplog, "(too_many_from_address)")) == 1
    other_reader, other_writer = await connect_from(port, "127.0.0.2")
    other_writer.write(b"PING 1\n")
    assert await read_line(other_reader) == b"PONG 1\n"
    for reader, writer in held:
        writer.write(b"PING 2\n")
        assert await read_line(reader) == b"PONG 2\n"
    for _, writer in held + refused + [(other_reader, other_writer)]:
        writer.close()


async def test_a_connection_that_sends_nothing_is_refused_after_the_first_byte_timeout(start_echo, echo_plugin, caplog):
    gateway = await start_echo(first_byte_timeout=0.3, idle_timeout=60.0)
    reader, writer = await connect(gateway.port("echo"))
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        assert await read_until_closed(reader) == b""
        await eventually(lambda: counters(gateway)["rejected"] == {"no_first_byte": 1})
    assert (counters(gateway)["accepted"], echo_plugin.opened) == (0, [])
    assert "(no_first_byte): sent nothing within 0.3s" in caplog.text
    writer.close()
    # a connection that talks at once is served as before
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"PING 1\n")
    assert await read_line(reader) == b"PONG 1\n"
    writer.close()


async def test_the_listen_backlog_is_the_configured_one(start_echo, monkeypatch):
    seen: list = []
    real = asyncio.start_server

    async def spy(*args, **kwargs):
        seen.append(kwargs.get("backlog"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(listener_module.asyncio, "start_server", spy)
    await start_echo()
    await start_echo(backlog=4096)
    assert seen == [1024, 4096]
