"""Simulated meters against an in-process gateway over real loopback TCP, on both store backends.

Expected replies are laid out by hand with ``struct`` (see ``gas_meter_helpers``), never by the spec.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from gas_meter_helpers import (
    NOW,
    NOW_LOCAL,
    TENANT,
    StoreWrapper,
    hourly_slots,
    make_config,
    provision,
    reply_bytes,
    report_bytes,
)

from core.errors import StoreUnavailable
from core.gateway.runtime import Gateway
from core.plugins import get_plugin_manager
from core.simulate import write_chunks
from core.store import ListQuery, open_store
from plugins.gas_meter.simulator import gas_meter_spec

STOP = 0xFFFFFFFF


def plugin_manager():
    pm = get_plugin_manager(installed=False)
    return pm


@pytest.fixture
async def store(backend_url):
    url, options = backend_url
    async with open_store(url, **options) as opened:
        yield opened


def gateway(store):
    return Gateway(make_config(), store, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW)


async def send(port: int, chunks: list[bytes], pause: float = 0.0) -> bytes:
    """Write ``chunks`` and read until the gateway closes: everything it sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await write_chunks(writer, chunks, pause)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def readings(store, uid):
    page = await store.list_readings(TENANT, ListQuery(filters={"device_uid": uid}, sort="timestamp", limit=1000))
    return [
        (r["timestamp"], r["counter_val"], r["year"], r["month"], r["day"], r["hour"], r["wday"], r["week"])
        for r in page.items
    ]


SLOTS = hourly_slots(NOW, first_count=10000, n=24, per_hour=7)
NEWEST = 10000 + 23 * 7
#: (timestamp, count, year, month, day, hour, wday, week) of the three newest slots, in KST
NEWEST_ROWS = [
    (NOW - 7200, NEWEST - 14, 2025, 3, 5, 23, 3, 10),
    (NOW - 3600, NEWEST - 7, 2025, 3, 6, 0, 4, 10),
    (NOW, NEWEST, 2025, 3, 6, 1, 4, 10),
]


async def test_each_case_gets_exactly_the_expected_bytes_and_store_contents(store):
    await provision(store, uid="A0000001")
    await provision(store, uid="E0000001")
    await provision(store, uid="E1000001", initial_count=4321)
    await provision(store, uid="0FF00001", flag=False)
    await provision(store, uid="B0000009")
    await provision(store, uid="0CF00001", server_ip="not an address", server_port=None, ref_interval=None)
    async with gateway(store) as gw:
        port = gw.port("gas_meter")
        normal = await send(port, [report_bytes("normal", "A0000001", SLOTS, battery=87, uptime=3600)])
        event = await send(port, [report_bytes("event", "E0000001", SLOTS[:3], event_code=1, seconds_per_rotation=33)])
        init = await send(port, [report_bytes("init", "E1000001")])
        unknown = await send(port, [report_bytes("normal", "0BADBEEF", SLOTS)])
        inactive = await send(port, [report_bytes("normal", "0FF00001", SLOTS)])
        timestamp = await send(port, [report_bytes("timestamp", "B0000009", SLOTS, battery=44)])
        misconfigured = await send(port, [report_bytes("normal", "0CF00001", SLOTS)])

    assert normal == reply_bytes(0xC0, "A0000001", NOW, NOW + 43200, NEWEST, 10, 600, "192.0.2.10", 5004)
    assert event == reply_bytes(0xC0, "E0000001", NOW, NOW + 43200, NEWEST, 10, 600, "192.0.2.10", 5004)
    assert init == reply_bytes(0xC9, "E1000001", NOW, 0, 4321, 10, 600, "192.0.2.10", 5004)
    assert unknown == reply_bytes(0xC0, "0BADBEEF", NOW, STOP, NEWEST, 0, 0, "0.0.0.0", 0)
    assert inactive == reply_bytes(0xC0, "0FF00001", NOW, STOP, NEWEST, 10, 600, "192.0.2.10", 5004)
    assert timestamp == reply_bytes(0x81, "B0000009", NOW, NOW + 43200, NEWEST, 10, 600, "192.0.2.10", 5004)
    # no usable server_ip/server_port/ref_interval: the data is kept, the reply degrades field by field
    assert misconfigured == reply_bytes(0xC0, "0CF00001", NOW, NOW + 43200, NEWEST, 10, 600, "0.0.0.0", 0)

    device = await store.get_device(TENANT, "A0000001")
    assert {k: device[k] for k in ("battery", "uptime", "last_access", "last_timestamp", "last_count", "flag")} == {
        "battery": 87,
        "uptime": 3600,
        "last_access": NOW_LOCAL,
        "last_timestamp": NOW,
        "last_count": NEWEST,
        "flag": True,
    }
    rows = await readings(store, "A0000001")
    assert len(rows) == 24 and rows[-3:] == NEWEST_ROWS
    assert rows[0][:2] == (NOW - 23 * 3600, 10000)

    assert await readings(store, "E0000001") == NEWEST_ROWS
    events = (await store.list_events(TENANT, ListQuery(filters={"device_uid": "E0000001"}))).items
    assert [(e["event_time"], e["event_code"], e["event_type"], e["seconds_per_rotation"]) for e in events] == [
        (NOW, 1, "tamper_detected", 33)
    ]
    assert (await store.get_device(TENANT, "E0000001"))["last_count"] == NEWEST

    init_device = await store.get_device(TENANT, "E1000001")
    assert (init_device["initial_access"], init_device["last_count"]) == (NOW_LOCAL, 4321)
    assert await readings(store, "E1000001") == []

    assert await store.get_device_route("0BADBEEF") is None
    inactive_device = await store.get_device(TENANT, "0FF00001")
    assert "last_access" not in inactive_device and await readings(store, "0FF00001") == []
    assert (await store.list_events(TENANT, ListQuery(filters={"device_uid": "0FF00001"}))).total == 0

    synced = await store.get_device(TENANT, "B0000009")
    assert (synced["battery"], synced["last_access"]) == (44, NOW_LOCAL)
    assert "last_count" not in synced and await readings(store, "B0000009") == []
    assert len(await readings(store, "0CF00001")) == 24
    assert (await store.get_device(TENANT, "0CF00001"))["last_count"] == NEWEST

    log = (await store.list_exchanges(ListQuery(filters={"device_type": "gas_meter"}, limit=10))).items
    assert len(log) == 7
    sent_for = {bytes(e["recv"])[1:9].decode(): bytes(e["send"]) for e in log}
    assert sent_for["A0000001"] == normal and sent_for["0BADBEEF"] == unknown
    assert all(e["recv_len"] == 256 and e["send_len"] == 32 for e in log)


async def test_byte_at_a_time_and_interleaved_sessions_give_the_same_results(store):
    await provision(store, uid="B0000001")
    await provision(store, uid="B0000002")
    await provision(store, uid="B0000003")
    packets = {uid: report_bytes("normal", uid, SLOTS) for uid in ("B0000001", "B0000002", "B0000003")}
    expected = {uid: reply_bytes(0xC0, uid, NOW, NOW + 43200, NEWEST, 10, 600, "192.0.2.10", 5004) for uid in packets}
    async with gateway(store) as gw:
        port = gw.port("gas_meter")
        one_by_one = await send(port, [bytes([b]) for b in packets["B0000001"]], pause=0.0005)

        # two sessions, each writing its packet in odd-sized chunks, turn by turn
        rng = random.Random(4)
        streams = []
        for uid in ("B0000002", "B0000003"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            streams.append((reader, writer, packets[uid]))
        offsets = [0, 0]
        while any(offset < 256 for offset in offsets):
            for index, (_, writer, packet) in enumerate(streams):
                if offsets[index] < 256:
                    size = rng.choice([1, 3, 5, 7, 13, 29])
                    writer.write(packet[offsets[index] : offsets[index] + size])
                    await writer.drain()
                    offsets[index] += size
                    await asyncio.sleep(0.001)
        interleaved = [await asyncio.wait_for(reader.read(), 10) for reader, _, _ in streams]
        for _, writer, _ in streams:
            writer.close()

    assert one_by_one == expected["B0000001"]
    assert interleaved == [expected["B0000002"], expected["B0000003"]]
    for uid in packets:
        rows = await readings(store, uid)
        assert len(rows) == 24 and rows[-3:] == NEWEST_ROWS


async def test_overlapping_windows_of_consecutive_packets_store_each_reading_once(store):
    await provision(store, uid="C0000001")
    async with gateway(store) as gw:
        port = gw.port("gas_meter")
        for hours_ago in (2, 1, 0, 0):
            window = hourly_slots(NOW - hours_ago * 3600, first_count=10000 - hours_ago * 7)
            reply = await send(port, [report_bytes("normal", "C0000001", window)])
            assert len(reply) == 32 and reply[0] == 0xC0
    rows = await readings(store, "C0000001")
    assert len(rows) == 26
    assert [r[0] for r in rows] == [NOW - h * 3600 for h in range(25, -1, -1)]
    assert rows[-1][1] == NEWEST


async def test_a_resent_event_report_is_stored_once(store):
    """The reply to an E0 report was lost, so the meter sends the very same packet again (later, by the
    gateway's clock): the event, the readings and the device end as after one report."""
    await provision(store, uid="E0000002")
    packet = report_bytes("event", "E0000002", SLOTS, event_code=1, uptime=7200)
    clock = [NOW]
    async with Gateway(
        make_config(), store, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: clock[0]
    ) as gw:
        port = gw.port("gas_meter")
        first = await send(port, [packet])
        once = (await store.get_device(TENANT, "E0000002"), await readings(store, "E0000002"))
        for _ in range(2):
            clock[0] += 60
            assert len(await send(port, [packet])) == 32
    assert len(first) == 32 and first[0] == 0xC0
    device = await store.get_device(TENANT, "E0000002")
    assert device["last_access"] == "2025-03-06 01:02:00"  # when the meter last talked: the resend
    assert ({**device, "last_access": None}, await readings(store, "E0000002")) == (
        {**once[0], "last_access": None},
        once[1],
    )
    events = (await store.list_events(TENANT, ListQuery(filters={"device_uid": "E0000002"}))).items
    assert [(e["event_id"], e["event_time"]) for e in events] == [(f"E0000002-E0-1-{NOW}-7200", NOW)]


class FailingStore(StoreWrapper):
    """The real store, except that committing a report fails as an unreachable backend does."""

    attempts = 0

    async def record_report(self, *args, **kwargs):
        self.attempts += 1
        raise StoreUnavailable("backend unreachable (test)")


async def test_no_reply_when_the_store_fails(store):
    await provision(store, uid="D0000001")
    failing = FailingStore(store)
    async with Gateway(
        make_config(), failing, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW
    ) as gw:
        received = await send(gw.port("gas_meter"), [report_bytes("normal", "D0000001", SLOTS)])
        metrics = gw.metrics()["listeners"][0]
    assert received == b""
    assert failing.attempts == 1
    assert metrics["store_failures"] == 1 and metrics["replies"] == 0
    assert await readings(store, "D0000001") == []
    assert "last_access" not in await store.get_device(TENANT, "D0000001")


async def test_junk_closes_without_reply_and_is_kept_as_a_dead_letter(store):
    await provision(store, uid="F0000001")
    junk = b"HELLO? " + bytes(range(40))
    async with gateway(store) as gw:
        port = gw.port("gas_meter")
        assert await send(port, [junk]) == b""
        # the listener keeps serving others
        good = await send(port, [report_bytes("normal", "F0000001", SLOTS)])
    assert good == reply_bytes(0xC0, "F0000001", NOW, NOW + 43200, NEWEST, 10, 600, "192.0.2.10", 5004)
    letters = (await store.list_dead_letters(ListQuery(filters={"device_type": "gas_meter"}))).items
    assert len(letters) == 1 and letters[0]["ip"] == "127.0.0.1"
    kept = bytes(letters[0]["data"])
    assert kept and junk.startswith(kept)
    log = (await store.list_exchanges(ListQuery(filters={"device_type": "gas_meter"}, limit=10))).items
    assert sorted(e["send_len"] for e in log) == [0, 32]


async def test_a_non_hex_uid_is_refused_without_reply(store):
    async with gateway(store) as gw:
        received = await send(gw.port("gas_meter"), [report_bytes("normal", "$ne00000", SLOTS)])
    assert received == b""
    letters = (await store.list_dead_letters(ListQuery(filters={"device_type": "gas_meter"}))).items
    assert len(letters) == 1 and bytes(letters[0]["data"])[1:9] == b"$ne00000"


class SlowExchangeStore:
    """The real store, except that the exchange log waits for ``release`` (or fails, with ``fail``)."""

    def __init__(self, store, fail=False):
        self._store = store
        self.fail = fail
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.batches = []

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def log_exchange(self, entry):
        await self.log_exchanges([entry])

    async def log_exchanges(self, entries):
        self.batches.append(len(entries))
        self.started.set()
        await self.release.wait()
        if self.fail:
            raise StoreUnavailable("backend unreachable (test)")
        await self._store.log_exchanges(entries)


async def test_the_exchange_log_trails_the_closed_session_and_is_in_the_store_after_it(store):
    await provision(store, uid="F0000002")
    slow = SlowExchangeStore(store)
    gw = Gateway(make_config(), slow, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW)
    async with gw:
        # the reply comes and the connection closes while the exchange log is still being written
        received = await send(gw.port("gas_meter"), [report_bytes("normal", "F0000002", SLOTS)])
        assert received == reply_bytes(0xC0, "F0000002", NOW, NOW + 43200, NEWEST, 10, 600, "192.0.2.10", 5004)
        await asyncio.wait_for(slow.started.wait(), 5)
        assert (await store.list_exchanges(ListQuery(filters={"device_type": "gas_meter"}))).total == 0
        assert len(await readings(store, "F0000002")) == 24  # what the report carried was committed first
        stopping = asyncio.create_task(gw.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()  # stopping waits for the trailing write
        slow.release.set()
        await stopping
    log = (await store.list_exchanges(ListQuery(filters={"device_type": "gas_meter"}))).items
    assert [(bytes(e["recv"])[1:9], bytes(e["send"])) for e in log] == [(b"F0000002", received)]
    assert gw.metrics()["listeners"][0]["exchange_log_failures"] == 0


async def test_the_exchange_log_names_the_device_and_the_tenant_that_holds_it(store):
    await provision(store, uid="A0000007")
    await provision(store, uid="0FF00007", flag=False)
    await store.set_device_route("0DD00007", TENANT)  # routed, but the tenant holds no such device
    async with gateway(store) as gw:
        port = gw.port("gas_meter")
        for uid in ("A0000007", "0FF00007", "0BADBEEF", "0DD00007"):
            assert len(await send(port, [report_bytes("normal", uid, SLOTS)])) == 32
        assert await send(port, [b"hello there\r\n"]) == b""
    log = (await store.list_exchanges(ListQuery(sort="at", limit=10))).items
    attributed = {bytes(e["recv"])[1:9].decode("ascii", "replace"): (e.get("device_uid"), e.get("tenant")) for e in log}
    assert attributed == {
        "A0000007": ("A0000007", TENANT),
        "0FF00007": ("0FF00007", TENANT),  # inactive, but the tenant's own
        "0BADBEEF": ("0BADBEEF", None),  # unknown: the uid it claimed, no tenant
        "0DD00007": ("0DD00007", None),
        "ello the": (None, None),  # junk: nothing to attribute
    }
    mine = await store.list_exchanges(ListQuery(filters={"tenant": TENANT}))
    assert sorted(bytes(e["recv"])[1:9] for e in mine.items) == [b"0FF00007", b"A0000007"]


async def test_the_exchange_logs_of_sessions_that_close_meanwhile_are_one_batch_and_a_full_backlog_is_counted(
    store, caplog
):
    uids = [f"F00001{i:02X}" for i in range(5)]
    for uid in uids:
        await provision(store, uid=uid)
    slow = SlowExchangeStore(store)
    gw = Gateway(make_config(), slow, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW)
    async with gw:
        gw.listeners[0].trailing.backlog = 3
        port = gw.port("gas_meter")
        assert len(await send(port, [report_bytes("normal", uids[0], SLOTS)])) == 32
        await asyncio.wait_for(slow.started.wait(), 5)  # the first session's entry is being written, held
        for uid in uids[1:]:
            assert len(await send(port, [report_bytes("normal", uid, SLOTS)])) == 32  # none waits for the log
        for _ in range(500):
            if gw.metrics()["listeners"][0]["exchange_log_failures"]:
                break
            await asyncio.sleep(0.01)
        slow.release.set()
    assert slow.batches == [1, 3]  # three waited meanwhile and made one write; the fourth found the backlog full
    assert gw.metrics()["listeners"][0]["exchange_log_failures"] == 1
    assert (await store.list_exchanges(ListQuery(filters={"device_type": "gas_meter"}))).total == 4
    assert "could not log the exchange of 1 session(s)" in caplog.text


async def test_a_trailing_exchange_log_that_fails_is_counted(store, caplog):
    await provision(store, uid="F0000003")
    failing = SlowExchangeStore(store, fail=True)
    failing.release.set()
    gw = Gateway(make_config(), failing, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW)
    async with gw:
        received = await send(gw.port("gas_meter"), [report_bytes("normal", "F0000003", SLOTS)])
    assert len(received) == 32
    metrics = gw.metrics()["listeners"][0]
    assert (metrics["replies"], metrics["exchange_log_failures"], metrics["store_failures"]) == (1, 1, 0)
    assert "could not log the exchange" in caplog.text


async def test_a_trailing_exchange_log_still_pending_at_stop_is_given_up_and_counted(store, monkeypatch, caplog):
    import core.gateway.listener as listener_module

    monkeypatch.setattr(listener_module, "_CLOSE_WAIT", 0.1)
    await provision(store, uid="F0000004")
    stuck = SlowExchangeStore(store)  # never released
    gw = Gateway(make_config(), stuck, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW)
    async with gw:
        assert len(await send(gw.port("gas_meter"), [report_bytes("normal", "F0000004", SLOTS)])) == 32
        await asyncio.wait_for(stuck.started.wait(), 5)
        await gw.stop(grace=0)
    assert gw.metrics()["listeners"][0]["exchange_log_failures"] == 1
    assert "exchange log write(s) not committed" in caplog.text
