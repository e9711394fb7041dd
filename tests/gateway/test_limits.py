"""What a peer can make the runtime hold, keep and log is bounded: junk runs, silent connections, one
address's share of the slots, log lines of floods, the listen backlog (the ``echo`` protocol on loopback)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.gateway import listener as listener_module
from core.gateway.listener import DEAD_LETTER_BYTES, JUNK_LINES
from core.store import ListQuery
from tests.gateway.doubles import TIMEOUT, connect, eventually, read_line, read_until_closed


def counters(gateway) -> dict:
    return gateway.metrics()["listeners"][0]


async def dead_letters(store) -> list[dict]:
    return (await store.list_dead_letters(ListQuery(filters={"device_type": "echo"}, limit=1000))).items


async def connect_from(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from another loopback address (all of 127.0.0.0/8 is local on Linux)."""
    try:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), TIMEOUT)
    except OSError as exc:
        pytest.skip(f"cannot connect from {source}: {exc}")


def warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


# --------------------------------------------------------------------------- junk


async def test_a_run_of_junk_longer_than_the_limit_closes_at_once_in_skip_mode(start_echo, echo_plugin, store, caplog):
    # the idle timeout is far away: only the junk limit can close this connection within the test's timeout
    gateway = await start_echo(on_bad_frame="skip", max_frame_length=64, idle_timeout=60.0)
    reader, writer = await connect(gateway.port("echo"))
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        writer.write(b"#" * 1_000_000)
        assert await read_until_closed(reader) == b""
        await eventually(lambda: echo_plugin.closed == ["oversize"])
    writer.close()
    letters = await dead_letters(store)
    assert len(letters) == 1 and 64 < len(letters[0]["data"]) <= DEAD_LETTER_BYTES
    assert "more than 64 bytes without a complete frame" in letters[0]["error"]
    assert counters(gateway)["junk_bytes"] >= len(letters[0]["data"])
    assert len(warnings(caplog, "unusable byte(s)")) == 1


async def test_a_run_of_junk_is_one_dead_letter_of_its_first_bytes_and_every_byte_is_counted(start_echo, store):
    gateway = await start_echo(on_bad_frame="skip", max_frame_length=100_000)
    reader, writer = await connect(gateway.port("echo"))
    junk = b"#" * 20_000
    for start in range(0, len(junk), 1000):
        writer.write(junk[start : start + 1000])
        await writer.drain()
    writer.write(b"PING 1\n")
    assert await read_line(reader) == b"PONG 1\n"
    letters = await dead_letters(store)
    assert [bytes(item["data"]) for item in letters] == [b"#" * DEAD_LETTER_BYTES]
    assert f"20000 bytes, the first {DEAD_LETTER_BYTES} kept" in letters[0]["error"]
    assert counters(gateway)["junk_bytes"] == 20_000
    writer.close()


async def test_bytes_after_the_frame_that_closes_the_connection_are_counted(start_echo, echo_plugin):
    gateway = await start_echo()
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"BYE\nPING 1\n")
    assert await read_until_closed(reader) == b"BYE\n"
    await eventually(lambda: echo_plugin.closed == ["done"])
    assert counters(gateway)["junk_bytes"] == len(b"PING 1\n")
    writer.close()


async def test_the_rest_kept_with_a_bad_frame_is_counted(start_echo, echo_plugin):
    gateway = await start_echo(on_bad_frame="close")
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"NOPE\nPING 1\n")
    assert await read_until_closed(reader) == b""
    await eventually(lambda: echo_plugin.closed == ["junk"])
    assert (counters(gateway)["frames_bad"], counters(gateway)["junk_bytes"]) == (1, len(b"PING 1\n"))
    writer.close()


async def test_a_flood_of_bad_frames_logs_a_few_lines_and_counts_all(start_echo, store, caplog):
    gateway = await start_echo(on_bad_frame="skip", log_exchanges=False)
    reader, writer = await connect(gateway.port("echo"))
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        writer.write(b"NOPE\n" * 40 + b"PING 1\n")
        assert await read_line(reader) == b"PONG 1\n"
    assert counters(gateway)["frames_bad"] == 40
    assert len(warnings(caplog, "bad frame from")) == JUNK_LINES
    writer.close()


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
