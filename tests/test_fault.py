"""The malformed corpus against a real gateway with the built-in plugins, on loopback and both backends.

Each attack must be ended by the limit meant for it (counted exactly, by reason), a registered meter and a
scale must be served throughout, and what is kept of the junk stays small. The attackers come from other
loopback addresses (all of 127.0.0.0/8 is local on Linux), so the per-address share and the scale's
same-peer replacement see them as other peers.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from core.config import Config, ListenerConfig
from core.gateway.listener import DEAD_LETTER_BYTES
from core.gateway.runtime import Gateway
from core.plugins import get_plugin_manager
from core.store import ListQuery
from tests.gas_meter.gas_meter_helpers import NOW, hourly_slots, provision, reply_bytes, report_bytes

pytestmark = pytest.mark.fault

UID = "D0000077"
SLOTS = hourly_slots(NOW, first_count=10000, n=24, per_hour=7)
EXPECTED_REPLY = reply_bytes(0xC0, UID, NOW, NOW + 43200, 10000 + 23 * 7, 10, 600, "192.0.2.10", 5004)
SILENT, MAX_CONNECTIONS = 50, 40  # a quarter of 40 = 10 slots per address
GOOD, MEGABYTE = "127.0.0.1", 1 << 20
WAIT = 10.0  # generous: every case here ends within about a second


def config() -> Config:
    # the idle timeout is out of reach: each case must be ended by the limit meant for it
    short = {"idle_timeout": 60.0, "frame_timeout": 1.0, "first_byte_timeout": 1.0, "host": GOOD}
    return Config(
        tz_offset=32400,
        web_enabled=False,
        shutdown_grace=2.0,
        log_summary_interval=0,
        listeners=[
            ListenerConfig("gas_meter", 0, max_connections=MAX_CONNECTIONS, max_share_per_address=0.25, **short),
            ListenerConfig("fg150kal", 0, **short),
        ],
    )


async def open_from(source: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(asyncio.open_connection(GOOD, port, local_addr=(source, 0)), WAIT)
    except OSError as exc:
        pytest.skip(f"cannot connect from {source}: {exc}")


async def closed_by_gateway(reader: asyncio.StreamReader) -> None:
    try:
        while await asyncio.wait_for(reader.read(65536), WAIT):
            pass
    except (ConnectionError, OSError):
        pass


async def write_quietly(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionError, OSError):
        pass  # the gateway closed the connection before it had everything: that is the point


async def until(predicate) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def scale_flood(port: int) -> None:
    reader, writer = await open_from("127.0.0.3", port)
    await write_quietly(writer, b"A" * MEGABYTE)  # one "line" of a megabyte, no newline
    await closed_by_gateway(reader)
    writer.close()


async def drip(source: str, port: int, data: bytes) -> None:
    reader, writer = await open_from(source, port)
    for byte in data:
        await write_quietly(writer, bytes([byte]))
        if reader.at_eof():
            break
        try:
            await asyncio.wait_for(reader.read(1), 0.3)  # a byte every 0.3 s, faster than any idle timeout
            break  # EOF: the gateway closed it
        except TimeoutError:
            pass
    await closed_by_gateway(reader)
    writer.close()


async def garbage(port: int) -> None:
    noise = bytes(random.Random(7).randrange(256) for _ in range(2000))
    reader, writer = await open_from(GOOD, port)
    await write_quietly(writer, b"\x55" + noise)  # 0x55 starts no known report
    await closed_by_gateway(reader)
    writer.close()


async def truncated(port: int) -> None:
    reader, writer = await open_from(GOOD, port)
    await write_quietly(writer, report_bytes("normal", UID, SLOTS)[:100])
    await closed_by_gateway(reader)
    writer.close()


async def good_meter(port: int, rounds: int) -> list[bytes]:
    replies = []
    for _ in range(rounds):
        reader, writer = await open_from(GOOD, port)
        writer.write(report_bytes("normal", UID, SLOTS))
        await writer.drain()
        replies.append(await asyncio.wait_for(reader.read(), WAIT))
        writer.close()
        await asyncio.sleep(0.2)
    return replies


async def good_scale(port: int, lines: int) -> None:
    _, writer = await open_from(GOOD, port)
    for n in range(lines):
        writer.write(f"ST,+{50 + n:05d}.25 kg\r\n".encode())
        await writer.drain()
        await asyncio.sleep(0.05)
    writer.close()


async def test_the_malformed_corpus_is_ended_by_the_right_limits(store, caplog):
    await provision(store, uid=UID)
    pm = get_plugin_manager(installed=False)
    async with Gateway(config(), store, pm, clock=lambda: NOW) as gateway:
        meter_port, scale_port = gateway.port("gas_meter"), gateway.port("fg150kal")
        meter, scale = gateway.listener("gas_meter").metrics, gateway.listener("fg150kal").metrics
        with caplog.at_level(logging.WARNING, logger="specgate"):
            silent = [await open_from("127.0.0.2", meter_port) for _ in range(SILENT)]
            await until(lambda: meter.rejected["too_many_from_address"] == SILENT - 10)
            replies, *_ = await asyncio.gather(
                good_meter(meter_port, rounds=6),
                good_scale(scale_port, lines=30),
                scale_flood(scale_port),
                drip("127.0.0.4", scale_port, b"ST,+00053.25 kg"),
                garbage(meter_port),
                truncated(meter_port),
                *(closed_by_gateway(reader) for reader, _ in silent),
            )
            for _, writer in silent:
                writer.close()
            await until(lambda: scale.active == 0 and meter.active == 0)
        meter_counts, scale_counts = dict(meter.as_dict()), dict(scale.as_dict())

    assert replies == [EXPECTED_REPLY] * 6
    assert meter_counts["rejected"] == {"too_many_from_address": SILENT - 10, "no_first_byte": 10}
    assert meter_counts["closed"] == {"done": 6, "junk": 1, "frame_timeout": 1}
    assert (meter_counts["replies"], meter_counts["dead_letters"], meter_counts["handler_errors"]) == (6, 2, 0)
    assert meter_counts["junk_bytes"] >= 100 + 1

    assert scale_counts["rejected"] == {}
    assert scale_counts["closed"] == {"oversize": 1, "frame_timeout": 1, "peer_closed": 1}
    assert scale_counts["plugin"]["stable"] == 30 and scale_counts["dead_letters"] == 2
    assert DEAD_LETTER_BYTES <= scale_counts["junk_bytes"] <= MEGABYTE
    assert (await store.get_scale_latest("default"))["raw"] == "ST,+00079.25 kg"

    letters = (await store.list_dead_letters(ListQuery(limit=1000))).items
    assert len(letters) == 4
    assert sum(len(item["data"]) for item in letters) <= 4 * DEAD_LETTER_BYTES
    refusal_lines = [r for r in caplog.records if "(too_many_from_address)" in r.getMessage()]
    assert len(refusal_lines) == 1
