"""The store's live feed on both backends: what each announcing write appends (and what it does not), its
order and positions, a second store on the same database following what the first wrote, input checks, and
on SQLite the bound on the table and the migration of an older file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from decimal import Decimal

import pytest

from core.errors import InvalidInput
from core.store.sqlite import MIGRATIONS, SQLiteStore, connect, migrate, schema_version
from core.store.sqlite.live import append_live

TENANT = "feed_t"


async def collect(feed, count: int, timeout: float = 5.0) -> list[dict]:
    """The next ``count`` entries of ``feed``."""
    return [await asyncio.wait_for(anext(feed), timeout) for _ in range(count)]


async def nothing_more(feed, wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        entry = await asyncio.wait_for(anext(feed), wait)
        pytest.fail(f"unexpected entry {entry}")


def stable(weight: str, tenant: str | None = None) -> dict:
    return {"status": "ST", "weight": Decimal(weight), "unit": "kg", "raw": "ST", "received_at": 5.0, "tenant": tenant}


async def test_each_announcing_write_appends_its_entry_in_commit_order(store):
    await store.add_tenant(TENANT)
    feed = store.follow_live(await store.live_position())
    event = {"device_uid": "F1", "event_time": 9.0, "event_code": 2, "event_type": "alarm", "event_id": "ev1"}
    await store.record_report(TENANT, "F1", {"last_count": 12}, [
        {"device_uid": "F1", "timestamp": 100, "counter_val": 10},
        {"device_uid": "F1", "timestamp": 200, "counter_val": 12},
    ], event)  # fmt: skip
    await store.set_scale_latest("S1", stable("12.50", TENANT))
    dead_id = await store.add_dead_letter({"device_type": "fg150kal", "ip": "192.0.2.1", "port": 4001, "at": 7.0,
                                           "data": b"\xff", "error": "bad header", "path": "weight"})  # fmt: skip
    await store.publish_live("scale", None, {"scale_id": "S2", "status": "US", "weight": Decimal("1.20")})
    await store.add_event(TENANT, {"device_uid": "F2", "event_time": 3.0, "event_code": 5})
    entries = await collect(feed, 6)
    kinds = [entry["kind"] for entry in entries]
    assert sorted(kinds[:2]) == ["event", "report"] and kinds[2:] == ["scale", "dead_letter", "scale", "event"]
    by_kind = {entry["kind"]: entry for entry in entries[:2]}
    assert by_kind["report"]["tenant"] == TENANT
    assert by_kind["report"]["data"] == {
        "device_uid": "F1",
        "reading": {"device_uid": "F1", "timestamp": 200, "counter_val": 12},
    }
    assert by_kind["event"]["data"]["event"]["event_id"] == "ev1"
    assert entries[2]["tenant"] == TENANT and entries[2]["data"] == {
        "scale_id": "S1", "status": "ST", "weight": Decimal("12.50"), "unit": "kg", "received_at": 5.0, "stable": True
    }  # fmt: skip
    assert entries[3]["tenant"] is None and entries[3]["data"]["id"] == dead_id
    assert entries[3]["data"]["error"] == "bad header" and "data" not in entries[3]["data"]  # no raw bytes
    assert entries[4]["data"]["weight"] == Decimal("1.20") and entries[4]["tenant"] is None
    assert entries[5]["data"]["device_uid"] == "F2"
    assert all(isinstance(entry["at"], float) for entry in entries)
    await feed.aclose()


async def test_a_resent_report_and_a_known_event_announce_nothing(store):
    await store.add_tenant(TENANT)
    readings = [{"device_uid": "F1", "timestamp": 100, "counter_val": 10}]
    event = {"device_uid": "F1", "event_time": 9.0, "event_code": 2, "event_id": "ev1"}
    await store.record_report(TENANT, "F1", {}, readings, event)
    feed = store.follow_live(await store.live_position())
    await store.record_report(TENANT, "F1", {}, readings, event)  # the same report again: nothing new
    await store.add_event(TENANT, event)
    with pytest.raises(InvalidInput):
        await store.record_report(TENANT, "F1", {}, [{"device_uid": "F1", "timestamp": "soon", "counter_val": 1}])
    await store.set_scale_latest("S1", stable("1.00"))  # the next thing stored is the next entry
    assert [entry["data"]["scale_id"] for entry in await collect(feed, 1)] == ["S1"]
    await nothing_more(feed)
    await feed.aclose()


async def test_a_follower_resumes_after_a_position_and_another_store_follows_the_writer(two_stores):
    writer, reader = two_stores
    start = await reader.live_position()
    await writer.set_scale_latest("S1", stable("1.00"))
    await writer.set_scale_latest("S2", stable("2.00"))
    feed = reader.follow_live(start)
    first, second = await collect(feed, 2)
    assert [first["data"]["scale_id"], second["data"]["scale_id"]] == ["S1", "S2"]
    await feed.aclose()
    resumed = reader.follow_live(first["position"])
    assert (await collect(resumed, 1))[0]["data"]["scale_id"] == "S2"
    # a line written now reaches the other store's follower within the cross-process bound
    sent = time.monotonic()
    await writer.publish_live("scale", None, {"scale_id": "S3", "status": "US"})
    assert (await collect(resumed, 1))[0]["data"]["scale_id"] == "S3"
    assert time.monotonic() - sent < 1.0
    await resumed.aclose()


async def test_publish_checks_its_input(store):
    for kind, tenant, data in (
        ("weather", None, {}),
        ("scale", "$bad", {}),
        ("scale", 7, {}),
        ("scale", None, ["not", "a", "mapping"]),
        ("scale", None, {"weight": float("nan")}),
        ("scale", None, {"weight": object()}),
    ):
        with pytest.raises(InvalidInput):
            await store.publish_live(kind, tenant, data)


# --------------------------------------------------------------------------- SQLite


async def test_the_sqlite_feed_keeps_only_the_newest_entries(tmp_path, monkeypatch):
    monkeypatch.setattr("core.store.sqlite.live.LIVE_FEED_KEPT", 20)
    monkeypatch.setattr("core.store.sqlite.live._TRIM_EVERY", 8)
    path = str(tmp_path / "feed.db")
    async with SQLiteStore(path) as store:
        for n in range(100):
            await store.publish_live("scale", None, {"scale_id": "S", "n": n})
        with pytest.raises(InvalidInput):
            await anext(store.follow_live("yesterday"))
    conn = sqlite3.connect(path)
    count, newest = conn.execute("SELECT COUNT(*), MAX(id) FROM live_feed").fetchone()
    conn.close()
    assert newest == 100 and 20 <= count < 20 + 8


async def test_a_version_4_file_gains_the_live_feed(tmp_path):
    path = str(tmp_path / "v4.db")
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:4]) == 4
    conn.close()
    async with SQLiteStore(path) as store:
        assert await store.live_position() == 0
        feed = store.follow_live()  # from now
        pending = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0.2)
        await store.set_scale_latest("S1", stable("3.00"))
        assert (await asyncio.wait_for(pending, 5))["position"] == 1
        await feed.aclose()
    conn = sqlite3.connect(path)
    assert schema_version(conn) == len(MIGRATIONS) >= 5
    conn.close()


async def test_the_writing_store_hands_its_committed_entries_to_its_followers_without_reading_them(
    tmp_path, monkeypatch
):
    path = str(tmp_path / "handed.db")
    async with SQLiteStore(path) as store:
        monkeypatch.setattr(type(store), "live_poll_interval", 60.0)  # no read of the table by the clock
        feed = store.follow_live(await store.live_position())
        pending = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0.1)  # its first read of the table is done
        reads = []
        real_read = type(store)._read_point

        async def counted(self, fn):
            reads.append(fn)
            return await real_read(self, fn)

        monkeypatch.setattr(type(store), "_read_point", counted)
        await store.set_scale_latest("S1", stable("1.00"))
        await store.publish_live("scale", None, {"scale_id": "S2", "status": "US", "weight": Decimal("2.50")})
        entries = [await asyncio.wait_for(pending, 5), *await collect(feed, 1)]
        assert [entry["data"]["scale_id"] for entry in entries] == ["S1", "S2"]
        assert [entry["position"] for entry in entries] == [1, 2]
        assert entries[1]["data"]["weight"] == Decimal("2.50") and isinstance(entries[0]["at"], float)
        assert reads == []
        await feed.aclose()


async def test_a_write_that_fails_hands_nothing_over(tmp_path):
    async with SQLiteStore(str(tmp_path / "failed.db")) as store:
        feed = store.follow_live(await store.live_position())

        def append_then_fail(conn):
            append_live(conn, ("scale", None, {"scale_id": "LOST", "status": "US"}))
            raise sqlite3.IntegrityError("the unit fails after its append")

        pending = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0.1)  # following
        with pytest.raises(Exception, match="fails after its append"):
            await store._write(append_then_fail)
        await store.publish_live("scale", None, {"scale_id": "KEPT", "status": "US"})
        assert (await asyncio.wait_for(pending, 5))["data"]["scale_id"] == "KEPT"
        await nothing_more(feed)
        await feed.aclose()


async def test_an_entry_of_another_process_between_two_handed_ones_is_read_from_the_table(tmp_path, monkeypatch):
    path = str(tmp_path / "between.db")
    async with SQLiteStore(path) as mine, SQLiteStore(path) as other:
        monkeypatch.setattr(type(mine), "live_poll_interval", 60.0)  # only the gap sends it to the table
        feed = mine.follow_live(await mine.live_position())
        pending = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0.1)
        await mine.publish_live("scale", None, {"scale_id": "A", "status": "US"})
        first = await asyncio.wait_for(pending, 5)
        await other.publish_live("scale", None, {"scale_id": "B", "status": "US"})  # never handed to mine
        await mine.publish_live("scale", None, {"scale_id": "C", "status": "US"})
        entries = [first, *await collect(feed, 2)]
        assert [entry["data"]["scale_id"] for entry in entries] == ["A", "B", "C"]
        assert [entry["position"] for entry in entries] == [1, 2, 3]
        await nothing_more(feed)
        await feed.aclose()


# --------------------------------------------------------------------------- MongoDB without change streams


@pytest.mark.parametrize("backend", ["mongodb"])
async def test_without_change_streams_a_mongodb_follower_polls_and_yields_each_entry_once(two_stores, monkeypatch):
    writer, reader = two_stores

    async def no_change_streams(self, after):
        return None  # what a standalone server answers

    monkeypatch.setattr(type(reader), "_watch", no_change_streams)
    monkeypatch.setattr(type(reader), "live_poll_interval", 0.02)
    await writer.publish_live("scale", None, {"scale_id": "OLD", "status": "US"})  # in the feed when it returns
    feed = reader.follow_live(await reader.live_position())
    pending = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.2)
    for n in range(5):
        await writer.publish_live("scale", None, {"scale_id": f"S{n}", "status": "US"})
    entries = [await asyncio.wait_for(pending, 5), *await collect(feed, 4)]
    assert [entry["data"]["scale_id"] for entry in entries] == ["S0", "S1", "S2", "S3", "S4"]
    await nothing_more(feed)  # the overlap read again is never yielded twice
    await feed.aclose()


class SwallowsCancel:
    """A driver read that absorbs the cancel coming as its reply arrives, as pymongo's async reads can:
    the caller gets an empty answer instead of the CancelledError."""

    def __init__(self, empty):
        self.empty = empty
        self.reads = 0

    async def read(self, *args, **kwargs):
        self.reads += 1
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return self.empty


@pytest.mark.parametrize("store", ["mongodb"], indirect=True)
@pytest.mark.parametrize("follower", ["polling", "change stream"])
async def test_a_mongodb_follower_whose_cancel_the_driver_swallows_still_ends(store, monkeypatch, follower):
    from pymongo.asynchronous.cursor import AsyncCursor

    position = await store.live_position()
    if follower == "polling":
        driver = SwallowsCancel([])

        async def no_change_streams(self, after):
            return None

        monkeypatch.setattr(type(store), "_watch", no_change_streams)
        monkeypatch.setattr(AsyncCursor, "to_list", driver.read)
    else:
        driver = SwallowsCancel(None)
        stream = await store._watch(None)
        monkeypatch.setattr(stream, "try_next", driver.read)

        async def this_stream(self, after):
            return stream

        monkeypatch.setattr(type(store), "_watch", this_stream)
    feed = store.follow_live(position)
    pending = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.1)
    assert driver.reads == 1
    pending.cancel()
    done, _ = await asyncio.wait({pending}, timeout=2)
    assert done and pending.cancelled()  # not reading on for ever behind a closed WebSocket
    assert driver.reads == 1


@pytest.mark.parametrize("store", ["mongodb"], indirect=True)
async def test_a_mongodb_report_returns_before_its_live_entry_is_appended_and_a_failed_append_is_counted(
    store, monkeypatch, caplog
):
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.errors import AutoReconnect

    await store.add_tenant(TENANT)
    feed = store.follow_live(await store.live_position())
    release, outage = asyncio.Event(), False
    insert_many = AsyncCollection.insert_many

    async def slow_feed(self, documents, *args, **kwargs):
        if self.name == "live_feed":
            await release.wait()
            if outage:
                raise AutoReconnect("the server went away")
        return await insert_many(self, documents, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "insert_many", slow_feed)
    reading = {"device_uid": "F1", "timestamp": 100, "counter_val": 10}
    assert await asyncio.wait_for(store.record_report(TENANT, "F1", {}, [reading]), 5) == 1  # not held by the feed
    pending = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.3)
    assert not pending.done()
    release.set()
    assert (await asyncio.wait_for(pending, 5))["data"]["device_uid"] == "F1"

    release.clear()
    outage = True
    later = {"device_uid": "F1", "timestamp": 200, "counter_val": 11}
    assert await asyncio.wait_for(store.record_report(TENANT, "F1", {}, [later]), 5) == 1
    release.set()
    await store.live_position()  # once the append has failed
    assert store.live_entries_missed == 1
    assert "the live feed missed 1 entry" in caplog.text
    await feed.aclose()


@pytest.mark.parametrize("store", ["mongodb"], indirect=True)
async def test_a_full_mongodb_live_backlog_drops_new_entries_counted_and_refuses_a_publish(store, monkeypatch):
    from pymongo.asynchronous.collection import AsyncCollection

    import core.store.mongo.live as mongo_live
    from core.errors import StoreUnavailable

    await store.add_tenant(TENANT)
    monkeypatch.setattr(mongo_live, "ANNOUNCE_BACKLOG", 1)
    release = asyncio.Event()
    insert_many = AsyncCollection.insert_many

    async def held(self, documents, *args, **kwargs):
        if self.name == "live_feed":
            await release.wait()
        return await insert_many(self, documents, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "insert_many", held)
    for n, uid in enumerate(["F1", "F2", "F3"]):
        reading = {"device_uid": uid, "timestamp": 100 + n, "counter_val": n}
        await store.record_report(TENANT, uid, {}, [reading])  # F1 is being appended, F2 waits, F3 finds no room
        await asyncio.sleep(0)
    assert store.live_entries_missed == 1
    with pytest.raises(StoreUnavailable, match="backlog is full"):
        await store.publish_live("scale", None, {"scale_id": "S1", "status": "US"})
    assert store.live_entries_missed == 2
    release.set()
    await store.live_position()
    uids = [doc["data"]["device_uid"] async for doc in store._common["live_feed"].find({"kind": "report"})]
    assert uids == ["F1", "F2"]
