"""Graceful shutdown with a session truly in flight.

The handler of the ``gated`` plugin blocks on an ``asyncio.Event`` the test controls, so a session is busy
(``Connection.busy``) for exactly as long as the test wants while ``Gateway.stop`` runs: released inside the
grace period it must still store and reply; still blocked past the deadline it must be cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal

import pytest

from core.config import Config
from core.gateway.runtime import Gateway
from core.gateway.types import ListenerConfig, Outcome
from core.hookspecs import hookimpl
from tests.gateway.doubles import (
    DEVICE_TYPE,
    TIMEOUT,
    LineSpec,
    connect,
    eventually,
    plugin_manager_with,
    read_line,
    read_until_closed,
)

GRACE = 0.5


class GatedPlugin:
    """Handles ``echo`` lines: ``PING n`` at once, ``KEEP text`` only once ``release`` is set."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.finished: list[str] = []
        self.closed: list[str] = []

    @hookimpl
    def specgate_connection_closed(self, session, reason):
        self.closed.append(reason)

    @hookimpl
    def specgate_handle_message(self, session, message):
        return self.handle(session, message)

    async def handle(self, session, message):
        arg = message.values["arg"]
        if message.message == "ping":
            return Outcome(reply_message="line", reply={"text": f"PONG {arg}"})
        self.entered.set()
        await self.release.wait()
        self.finished.append(arg)

        async def keep(store):
            await store.set_scale_latest(
                f"gated-{session.peer_port}",
                {
                    "status": "ST",
                    "weight": Decimal("2.50"),
                    "unit": "kg",
                    "raw": arg,
                    "received_at": 0.0,
                },
            )

        return Outcome(store=keep, reply_message="line", reply={"text": f"KEPT {arg}"})


@pytest.fixture
def gated() -> GatedPlugin:
    return GatedPlugin()


@pytest.fixture
def gated_pm(gated):
    return plugin_manager_with(gated=gated)


@pytest.fixture
async def clients(gated):
    """Client connections to close at the end; the gate is opened then too, so nothing is left blocked."""
    opened: list[asyncio.StreamWriter] = []
    yield opened
    gated.release.set()
    for writer in opened:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


def make_gateway(store, pm, config: Config | None = None) -> Gateway:
    listener = ListenerConfig(DEVICE_TYPE, 0, host="127.0.0.1")
    return Gateway(config or Config(), store, pm, listeners=[listener], specs={DEVICE_TYPE: LineSpec()})


async def open_client(port: int, clients: list) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await connect(port)
    clients.append(writer)
    return reader, writer


async def assert_refused(port: int) -> None:
    """A new connection is refused: the listening socket is gone (or, at worst, closed unanswered)."""
    try:
        reader, writer = await connect(port)
    except OSError:
        return
    try:
        writer.write(b"PING 9\n")
        assert await read_until_closed(reader) == b"", "a connection made during shutdown was served"
    finally:
        writer.close()


async def start_in_flight(gateway: Gateway, gated: GatedPlugin, clients: list):
    """An idle session that has been served, and a busy one whose handler is blocked on the gate."""
    port = gateway.port(DEVICE_TYPE)
    idle = await open_client(port, clients)
    idle[1].write(b"PING 0\n")
    assert await read_line(idle[0]) == b"PONG 0\n"
    busy = await open_client(port, clients)
    busy[1].write(b"KEEP 17.5\n")
    await asyncio.wait_for(gated.entered.wait(), TIMEOUT)
    assert gateway.listener(DEVICE_TYPE)._connections and any(
        c.busy for c in gateway.listener(DEVICE_TYPE)._connections
    )
    return idle, busy


async def test_a_session_in_flight_at_stop_finishes_within_the_grace_period(store, gated, gated_pm, clients, caplog):
    caplog.set_level(logging.INFO, logger="specgate.gateway")
    gateway = make_gateway(store, gated_pm)
    await gateway.start()
    try:
        port = gateway.port(DEVICE_TYPE)
        (idle_reader, _), (busy_reader, busy_writer) = await start_in_flight(gateway, gated, clients)
        busy_port = busy_writer.get_extra_info("sockname")[1]

        stopping = asyncio.create_task(gateway.stop(grace=GRACE + 3))
        # the idle session is closed at once; nobody new gets in while the busy one finishes
        assert await read_until_closed(idle_reader) == b""
        await assert_refused(port)
        assert not stopping.done() and gated.finished == []
        assert await store.get_scale_latest(f"gated-{busy_port}") is None

        gated.release.set()  # inside the grace period
        assert await read_line(busy_reader) == b"KEPT 17.5\n"
        assert await read_until_closed(busy_reader) == b""
        await asyncio.wait_for(stopping, TIMEOUT)
    finally:
        gated.release.set()
        await gateway.stop(grace=0)

    latest = await store.get_scale_latest(f"gated-{busy_port}")
    assert latest is not None and latest["raw"] == "17.5" and latest["weight"] == Decimal("2.50")
    assert sorted(gated.closed) == ["shutdown", "shutdown"]
    counters = gateway.metrics()["listeners"][0]
    assert counters["replies"] == 2 and counters["closed"] == {"shutdown": 2}
    assert counters["accepted"] == 2  # the one tried during shutdown was not served
    assert "still busy" not in caplog.text


async def test_leaving_async_with_lets_the_in_flight_session_finish(store, gated, gated_pm, clients):
    """``async with Gateway(...)`` stops with ``config.shutdown_grace`` when the block is left."""
    results: dict[str, object] = {}
    async with make_gateway(store, gated_pm, Config(shutdown_grace=GRACE + 3)) as gateway:
        port = gateway.port(DEVICE_TYPE)
        listener = gateway.listener(DEVICE_TYPE)
        (idle_reader, _), (busy_reader, busy_writer) = await start_in_flight(gateway, gated, clients)
        busy_port = busy_writer.get_extra_info("sockname")[1]

        async def device_side():
            await eventually(lambda: listener.closing)
            results["idle"] = await read_until_closed(idle_reader)
            await assert_refused(port)
            results["before_release"] = list(gated.finished)
            gated.release.set()
            results["reply"] = await read_line(busy_reader)
            results["after"] = await read_until_closed(busy_reader)

        device = asyncio.create_task(device_side())
    # the block is left only once the session finished (or the grace ran out)
    await asyncio.wait_for(device, TIMEOUT)
    assert results == {"idle": b"", "before_release": [], "reply": b"KEPT 17.5\n", "after": b""}
    assert (await store.get_scale_latest(f"gated-{busy_port}"))["raw"] == "17.5"
    assert sorted(gated.closed) == ["shutdown", "shutdown"]


async def test_a_session_busy_past_the_deadline_is_cut(store, gated, gated_pm, clients, caplog):
    caplog.set_level(logging.INFO, logger="specgate.gateway")
    gateway = make_gateway(store, gated_pm)
    await gateway.start()
    loop = asyncio.get_running_loop()
    try:
        (idle_reader, _), (busy_reader, busy_writer) = await start_in_flight(gateway, gated, clients)
        busy_port = busy_writer.get_extra_info("sockname")[1]
        name = gateway.listener(DEVICE_TYPE).name

        started = loop.time()
        stopping = asyncio.create_task(gateway.stop(grace=GRACE))
        assert await read_until_closed(idle_reader) == b""
        # the busy device hears nothing and is hung up on once the grace is over
        assert await read_until_closed(busy_reader) == b""
        await asyncio.wait_for(stopping, GRACE + 3)
        took = loop.time() - started
    finally:
        gated.release.set()
        await gateway.stop(grace=0)

    assert GRACE - 0.1 <= took <= GRACE + 3, f"stop took {took:.2f}s with a grace of {GRACE}s"
    assert sorted(gated.closed) == ["shutdown", "shutdown"]
    assert gated.finished == []
    counters = gateway.metrics()["listeners"][0]
    assert counters["replies"] == 1 and counters["closed"] == {"shutdown": 2}  # only the idle one's PONG
    assert await store.get_scale_latest(f"gated-{busy_port}") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "still busy" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == [f"{name}: 1 session(s) still busy after {GRACE:.1f}s, closing them"]
