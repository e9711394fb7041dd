"""A store outage met by the gas meter handler's own lookups (the device route, before any reply) is an
outage, not a handler bug: counted as a store failure, no reply, no dead letter, and the next session after
the store is back is answered."""

from __future__ import annotations

import asyncio
import logging

import pytest
from gas_meter_helpers import NOW, StoreWrapper, hourly_slots, make_config, provision, reply_bytes, report_bytes

from core.errors import StoreUnavailable
from core.gateway.runtime import Gateway
from core.plugins import get_plugin_manager
from core.store import ListQuery, open_store
from plugins.gas_meter.simulator import gas_meter_spec

UID = "D0000042"
SLOTS = hourly_slots(NOW, first_count=10000, n=24, per_hour=7)
NEWEST = 10000 + 23 * 7


class RouteOutageStore(StoreWrapper):
    """The real store, except that device lookups raise StoreUnavailable while ``down`` is set."""

    down = True
    lookups = 0

    async def get_routed_device(self, *args, **kwargs):
        self.lookups += 1
        if self.down:
            raise StoreUnavailable("backend unreachable (test)")
        return await self._store.get_routed_device(*args, **kwargs)


@pytest.fixture
async def store(backend_url):
    url, options = backend_url
    async with open_store(url, **options) as opened:
        yield opened


async def send(port: int, packet: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(packet)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_a_lookup_that_meets_the_store_down_is_a_store_failure_and_recovers(store, caplog):
    await provision(store, uid=UID)
    outage = RouteOutageStore(store)
    packet = report_bytes("normal", UID, SLOTS)
    pm = get_plugin_manager(installed=False)
    async with Gateway(make_config(), outage, pm, specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW) as gw:
        port = gw.port("gas_meter")
        with caplog.at_level(logging.INFO, logger="specgate"):
            assert await send(port, packet) == b""
            assert await send(port, packet) == b""
        down = dict(gw.metrics()["listeners"][0])
        outage.down = False
        answered = await send(port, packet)
        metrics = gw.metrics()["listeners"][0]
    assert outage.lookups == 3
    assert (down["store_failures"], down["handler_errors"], down["dead_letters"], down["replies"]) == (2, 0, 0, 0)
    assert down["closed"] == {"store_unavailable": 2}
    assert answered == reply_bytes(0xC0, UID, NOW, NOW + 43200, NEWEST, 10, 600, "192.0.2.10", 5004)
    assert metrics["replies"] == 1 and metrics["closed"] == {"store_unavailable": 2, "done": 1}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and "no reply sent" in errors[0].getMessage()
    assert (await store.list_dead_letters(ListQuery())).total == 0
