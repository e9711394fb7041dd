"""MongoDB-specific behaviour of ``MongoStore``: the original layout and BSON types, indexes, bulk inserts,
transactions and their fallback, availability errors. Runs against the session's real server."""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import socket
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient, monitoring

from core.errors import ConfigError, Conflict, InvalidInput, NotFound, StoreError, StoreUnavailable
from core.store import ListQuery, open_store
from core.store.mongo import MongoStore
from tests.conftest import store_options, unique_name

UID = "0000ABCD"


@pytest.fixture
def prefix() -> str:
    return store_options("mongodb")["db_prefix"]


@pytest.fixture
async def raw(mongodb_uri):
    """A plain pymongo client, to build and inspect databases behind the store's back."""
    client = AsyncMongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def mongo_store(mongodb_uri, prefix):
    async with open_store(mongodb_uri, db_prefix=prefix) as s:
        yield s


async def count_typed(collection, field: str, bson_type: str, extra: dict | None = None) -> int:
    return await collection.count_documents({**(extra or {}), field: {"$type": bson_type}})


async def test_open_store_selects_mongodb(mongo_store):
    assert isinstance(mongo_store, MongoStore)
    assert mongo_store.backend == "mongodb"
    await mongo_store.ping()


async def test_existing_deployment_is_used_as_it_is(mongodb_uri, prefix, raw):
    common, demo = raw[prefix + "gas_common"], raw[prefix + "gas_demo"]
    await common.device_route.insert_many(
        [
            {"device_uid": UID, "db_name": "gas_demo"},
            {"device_uid": "0000FFFF", "db_name": "none"},
        ]
    )
    await common.user_route.create_index("ID", unique=True)  # the original's own unique index
    await common.user_route.insert_one({"ID": "admin", "db_name": "gas_demo"})
    await demo.users.insert_one(
        {
            "ID": "admin",
            "code": "U24110319484920",
            "passwd": "ab" * 32,
            "role": "admin",
            "flag": True,
            "regdate": datetime(2024, 11, 3, tzinfo=UTC),
        }
    )
    await demo.device.insert_one(
        {
            "device_uid": UID,
            "flag": True,
            "meter_id": "365478965162",
            "initial_count": 0,
            "ref_interval": 43200,
            "minimum": 10,
            "maximum": 300,
            "server_ip": "10.0.0.5",
            "server_port": 5004,
            "last_access": "2025-12-18 12:00:00",
            "last_timestamp": 1766026800,
            "last_count": 120,
        }
    )
    await demo.data.insert_many(
        [
            {
                "device_uid": UID,
                "timestamp": 1766023200 + hour * 3600,
                "counter_val": 100 + hour * 10,
                "year": 2025,
                "month": 12,
                "day": 18,
                "hour": 11 + hour,
                "wday": 4,
                "week": 51,
            }
            for hour in range(3)
        ]
    )

    async with MongoStore(mongodb_uri, db_prefix=prefix) as s:
        assert await s.get_device_route(UID) == "gas_demo"
        assert await s.get_device_route("0000FFFF") == "none"
        device = await s.get_device("gas_demo", UID)
        assert device["flag"] is True and device["ref_interval"] == 43200 and "_id" not in device
        page = await s.list_readings("gas_demo", ListQuery(filters={"device_uid": UID}))
        assert [r["counter_val"] for r in page.items] == [100, 110, 120] and page.total == 3
        tenant, user = await s.find_user("admin")
        assert tenant == "gas_demo" and user["code"] == "U24110319484920"
        assert "gas_demo" in await s.list_tenants()
        with pytest.raises(Conflict):
            await s.add_user("gas_demo", {"ID": "admin"})
        # what the store writes is what the original C server reads
        new = await s.record_report(
            "gas_demo",
            UID,
            {
                "battery": 87,
                "uptime": 3600,
                "last_timestamp": 1766034000,
                "last_count": 150,
                "last_access": "2025-12-18 14:00:01",
            },
            [
                {
                    "device_uid": UID,
                    "timestamp": 1766034000 + i * 3600,
                    "counter_val": 130 + i * 10,
                    "year": 2025,
                    "month": 12,
                    "day": 18,
                    "hour": 14 + i,
                    "wday": 4,
                    "week": 51,
                }
                for i in range(2)
            ],
        )
        assert new == 2

    for field in ("battery", "uptime", "last_timestamp", "last_count", "ref_interval", "server_port"):
        assert await count_typed(demo.device, field, "int", {"device_uid": UID}) == 1, field
    assert await count_typed(demo.device, "flag", "bool") == 1
    assert await count_typed(demo.device, "last_access", "string") == 1
    assert await count_typed(demo.device, "server_ip", "string") == 1
    for field in ("timestamp", "counter_val", "year", "month", "day", "hour", "wday", "week"):
        assert await count_typed(demo.data, field, "int") == 5, field
    assert await demo.data.count_documents({}) == 5


async def test_written_documents_keep_bson_types(mongo_store, prefix, raw):
    await mongo_store.add_tenant("gas_demo")
    await mongo_store.add_device(
        "gas_demo",
        {"device_uid": UID, "flag": True, "ref_interval": 43200.0, "server_ip": "10.0.0.5", "server_port": 5004},
    )
    await mongo_store.log_exchange(
        {
            "ip": "10.1.2.3",
            "port": 5004,
            "datetime": "2025-12-18 12:00:00",
            "recv": bytes(256),
            "recv_len": 256,
            "send": bytes(32),
            "send_len": 32,
            "at": 1766026800.25,
            "device_type": "gas_meter",
        }
    )
    weighing = await mongo_store.commit_weighing(
        {
            "scale_id": "FG1",
            "cylinder_no": "C-1",
            "event_type": "arrival",
            "gross_kg": decimal.Decimal("51.20"),
            "committed_at": 1766026800.0,
        }
    )
    await mongo_store.set_scale_latest(
        "FG1",
        {
            "status": "ST",
            "weight": decimal.Decimal("0.05"),
            "unit": "kg",
            "raw": "ST,+000.05  kg",
            "received_at": 1766026800.5,
        },
    )

    common, demo = raw[prefix + "gas_common"], raw[prefix + "gas_demo"]
    assert await count_typed(demo.device, "flag", "bool") == 1
    assert await count_typed(demo.device, "ref_interval", "int") == 1
    assert await count_typed(common.misc_data, "recv", "binData") == 1
    assert await count_typed(common.misc_data, "port", "int") == 1
    assert await count_typed(common.misc_data, "at_date", "date") == 1
    assert await count_typed(common.scale_weight_log, "gross_kg", "decimal") == 1
    assert await count_typed(common.scale_latest, "weight", "decimal") == 1
    assert weighing["gross_kg"] == decimal.Decimal("51.20")
    latest = await mongo_store.get_scale_latest("FG1")
    assert latest["weight"] == decimal.Decimal("0.05") and isinstance(latest["weight"], decimal.Decimal)
    exchange = (await mongo_store.list_exchanges(ListQuery())).items[0]
    assert exchange["recv"] == bytes(256) and "at_date" not in exchange and "_id" not in exchange

    with pytest.raises(InvalidInput, match="ref_interval"):
        await mongo_store.update_device("gas_demo", UID, {"ref_interval": "43200"})
    with pytest.raises(InvalidInput, match="flag"):
        await mongo_store.update_device("gas_demo", UID, {"flag": "yes"})
    with pytest.raises(InvalidInput, match="server_ip"):
        await mongo_store.update_device("gas_demo", UID, {"server_ip": 167772165})


async def test_measurements_keep_bson_types_and_a_unique_key(mongo_store, prefix, raw):
    values = {"energy_kwh": decimal.Decimal("12.340"), "frame": b"\x68\x01", "tariffs": [decimal.Decimal("0.5")]}
    assert (
        await mongo_store.record_measurements(
            [{"device_type": "mbus", "device_id": "1", "at": 1766000000, "values": values, "tenant": "gas_demo"}]
        )
        == 1
    )
    collection = raw[prefix + "gas_common"].measurement
    assert await count_typed(collection, "values.energy_kwh", "decimal") == 1
    assert await count_typed(collection, "values.frame", "binData") == 1
    assert await collection.count_documents({"values.tariffs": {"$elemMatch": {"$type": "decimal"}}}) == 1
    indexes = (await collection.index_information()).values()
    assert any(i["key"] == [("device_type", 1), ("device_id", 1), ("at", 1)] and i.get("unique") for i in indexes)


async def test_indexes_are_created_once_and_follow_retention(mongodb_uri, prefix, raw):
    common = raw[prefix + "gas_common"]
    await common.user_route.create_index("ID", unique=True, name="login_id_unique")  # an operator's own name
    async with MongoStore(mongodb_uri, db_prefix=prefix, exchange_retention_days=30) as first:
        await first.add_tenant("gas_demo")

    data_indexes = await raw[prefix + "gas_demo"].data.index_information()
    assert any(
        info["key"] == [("device_uid", 1), ("timestamp", 1)] and info.get("unique") for info in data_indexes.values()
    )
    for collection, key in (
        ("device_route", "device_uid"),
        ("user_route", "ID"),
        ("sessions", "token_hash"),
        ("scale_latest", "scale_id"),
        ("api_tokens", "token_id"),
        ("api_tokens", "token_hash"),
    ):
        info = await common[collection].index_information()
        assert any(i["key"] == [(key, 1)] and i.get("unique") for i in info.values()), collection
    route_indexes = (await common.user_route.index_information()).values()
    assert [i["key"] for i in route_indexes if i["key"] != [("_id", 1)]] == [[("ID", 1)]]  # theirs, kept alone
    ttl = [i for i in (await common.misc_data.index_information()).values() if "expireAfterSeconds" in i]
    assert [(i["key"], i["expireAfterSeconds"]) for i in ttl] == [([("at_date", 1)], 30 * 86400)]

    ttl = [i for i in (await common.dead_letter.index_information()).values() if "expireAfterSeconds" in i]
    assert [(i["key"], i["expireAfterSeconds"]) for i in ttl] == [([("at_date", 1)], 30 * 86400)]
    ttl = [i for i in (await common.login_failures.index_information()).values() if "expireAfterSeconds" in i]
    assert [(i["key"], i["expireAfterSeconds"]) for i in ttl] == [([("at_date", 1)], 86400)]
    for collection, keys in (
        ("sessions", [("expires_at", 1)]),
        ("misc_data", [("tenant", 1), ("at", -1)]),
        ("scale_weight_log", [("tenant", 1), ("id", 1)]),
        ("login_failures", [("key", 1), ("at", -1), ("_id", -1)]),
    ):
        info = await common[collection].index_information()
        assert any(i["key"] == keys for i in info.values()), collection

    # same indexes again: idempotent; the TTL follows the new retention
    async with MongoStore(
        mongodb_uri, db_prefix=prefix, exchange_retention_days=7, dead_letter_retention_days=2
    ) as second:
        await second.add_dead_letter(
            {
                "device_type": "gas_meter",
                "ip": "10.0.0.1",
                "port": 5004,
                "at": 1766000000.5,
                "data": b"junk",
                "error": "junk",
                "path": "",
            }
        )
        letters = await second.list_dead_letters(ListQuery())
    ttl = [i for i in (await common.misc_data.index_information()).values() if "expireAfterSeconds" in i]
    assert [i["expireAfterSeconds"] for i in ttl] == [7 * 86400]
    ttl = [i for i in (await common.dead_letter.index_information()).values() if "expireAfterSeconds" in i]
    assert [i["expireAfterSeconds"] for i in ttl] == [2 * 86400]
    stored = await common.dead_letter.find_one({})
    assert stored["at_date"] == datetime.fromtimestamp(1766000000.5, UTC).replace(tzinfo=None)
    assert "at_date" not in letters.items[0] and letters.items[0]["data"] == b"junk"


async def test_bulk_insert_counts_only_new_readings(mongo_store, prefix, raw):
    readings = [{"device_uid": UID, "timestamp": 1766000000 + i * 3600, "counter_val": i} for i in range(24)]
    assert await mongo_store.insert_readings("gas_demo", readings[:10]) == 10
    assert await mongo_store.insert_readings("gas_demo", readings) == 14
    assert await mongo_store.insert_readings("gas_demo", readings) == 0
    assert await raw[prefix + "gas_demo"].data.count_documents({"device_uid": UID}) == 24


@pytest.mark.parametrize("transactions", [True, False])
async def test_record_report_commits_everything(mongodb_uri, prefix, raw, transactions):
    async with MongoStore(mongodb_uri, db_prefix=prefix, transactions=transactions) as s:
        assert s.uses_transactions is transactions  # SecantusDB is a one-node replica set
        await s.add_device("gas_demo", {"device_uid": UID, "flag": True})
        slots = [{"device_uid": UID, "timestamp": 1766000000 + i * 3600, "counter_val": 10 * i} for i in range(24)]
        event = {"event_time": 1766086400, "event_code": 1, "event_type": "magnetic_field"}
        assert await s.record_report("gas_demo", UID, {"battery": 90}, slots[:20], event) == 20
        assert await s.record_report("gas_demo", UID, {"battery": 89}, slots, None) == 4
        assert (await s.get_device("gas_demo", UID))["battery"] == 89
        assert (await s.list_readings("gas_demo", ListQuery(filters={"device_uid": UID}))).total == 24
        events = (await s.list_events("gas_demo", ListQuery(filters={"device_uid": UID}))).items
        assert [e["event_code"] for e in events] == [1] and isinstance(events[0]["event_id"], str)
    stored = await raw[prefix + "gas_demo"].data.find_one({"timestamp": 1766000000}, {"_id": 0})
    assert stored == {"device_uid": UID, "timestamp": 1766000000, "counter_val": 0}


async def test_route_none_means_the_common_database(mongo_store, prefix, raw):
    await mongo_store.set_device_route(UID, "none")
    await mongo_store.add_device("none", {"device_uid": UID, "flag": True})
    assert (
        await mongo_store.record_report(
            "none", UID, {"battery": 50}, [{"device_uid": UID, "timestamp": 1766000000, "counter_val": 1}]
        )
        == 1
    )
    common = raw[prefix + "gas_common"]
    assert await common.device.count_documents({"device_uid": UID, "battery": 50}) == 1
    assert await common.data.count_documents({"device_uid": UID}) == 1
    assert await mongo_store.get_device_route(UID) == "none"
    assert "none" not in await mongo_store.list_tenants()


async def test_weighing_ids_increase_across_processes_sharing_the_store(mongodb_uri, prefix, raw):
    counters = raw[prefix + "gas_common"].specgate_counters
    async with contextlib.AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(MongoStore(mongodb_uri, db_prefix=prefix)) for _ in range(2)]
        await counters.delete_many({})  # both stores then race to create the counter
        records = await asyncio.gather(
            *(
                stores[i % 2].commit_weighing(
                    {
                        "scale_id": "FG1",
                        "cylinder_no": f"C{i}",
                        "event_type": "arrival",
                        "gross_kg": decimal.Decimal("50.0"),
                        "committed_at": 1766000000.0 + i,
                    }
                )
                for i in range(12)
            )
        )
        ids = sorted(r["id"] for r in records)
        # unique and increasing; SecantusDB may leave a gap when two first upserts race (it answers one of
        # them with no document although it applied the increment, so that caller increments again)
        assert len(set(ids)) == 12 and ids[0] >= 1
        page = await stores[0].search_weighings(ListQuery(limit=5, offset=5))
        assert [r["id"] for r in page.items] == ids[5:10] and page.total == 12

    await counters.delete_many({})  # a log restored without its counter: ids continue after the newest
    async with MongoStore(mongodb_uri, db_prefix=prefix) as restored:
        record = await restored.commit_weighing(
            {"scale_id": "FG1", "cylinder_no": "C99", "event_type": "shipping", "committed_at": 1766090000.0}
        )
        assert record["id"] == ids[-1] + 1


async def test_explorer_sees_only_this_deployments_databases(mongo_store, prefix, raw):
    other = unique_name("t") + "_"
    await raw[other + "gas_common"].secret.insert_one({"x": 1})
    await mongo_store.add_tenant("gas_demo")
    await mongo_store.insert_readings("gas_demo", [{"device_uid": UID, "timestamp": 1766000000, "counter_val": 7}])

    listing = await mongo_store.list_collections()
    assert [entry["db"] for entry in listing] == ["gas_common", "gas_demo"]
    assert "data" in listing[1]["collections"] and "device_route" in listing[0]["collections"]
    page = await mongo_store.browse("gas_demo", "data", ListQuery(filters={"device_uid": UID}))
    assert page.total == 1 and page.items == [{"device_uid": UID, "timestamp": 1766000000, "counter_val": 7}]
    for db, collection in (
        ("admin", "system.users"),
        ("local", "startup_log"),
        ("gas_common", "secret"),
        ("gas_demo", "nope"),
    ):
        with pytest.raises(NotFound):
            await mongo_store.browse(db, collection, ListQuery())
    with pytest.raises(InvalidInput):
        await mongo_store.browse("gas_demo", "data", ListQuery(filters={"device_uid": {"$ne": None}}))
    await raw.drop_database(other + "gas_common")


async def test_tokens_and_login_failures_as_stored(mongo_store, prefix, raw):
    token = {
        "token_id": "t1",
        "token_hash": "x1",
        "tenant": "gas_demo",
        "name": "deploy",
        "scopes": ["devices:read"],
        "created_by": "alice",
        "created_at": 1766000000.5,
        "expires_at": None,
    }
    await mongo_store.create_api_token(token)
    await mongo_store.revoke_api_token("t1", "gas_demo")
    await mongo_store.note_login_failure("account:alice", 1766000000.25)
    common = raw[prefix + "gas_common"]
    stored = await common.api_tokens.find_one({})
    assert {k: v for k, v in stored.items() if k != "_id"} == {**token, "revoked": True}
    failure = await common.login_failures.find_one({})
    assert failure["key"] == "account:alice" and failure["at"] == 1766000000.25
    assert failure["at_date"] == datetime.fromtimestamp(1766000000.25, UTC).replace(tzinfo=None)
    assert (await mongo_store.list_api_tokens(None, ListQuery())).items[0].keys() == {*token} - {"token_hash"} | {
        "revoked"
    }


async def test_a_search_is_an_escaped_regex(mongo_store, prefix, raw, monkeypatch):
    from core.store.mongo import queries

    await mongo_store.add_user("gas_demo", {"ID": "u1", "name": "a.b"})
    specs = []
    original = queries.equality_filter
    monkeypatch.setattr(queries, "equality_filter", lambda *a: specs.append(original(*a)) or specs[-1])
    page = await mongo_store.list_users("gas_demo", ListQuery(search="a.(b"))
    assert page.items == [] and specs[-1]["$or"][0] == {"ID": {"$regex": "a\\.\\(b", "$options": "i"}}
    page = await mongo_store.list_users("gas_demo", ListQuery(search="A.B", any_of={"ID": ("u1", None)}))
    assert [u["ID"] for u in page.items] == ["u1"]
    assert specs[-1]["ID"] == {"$in": ["u1", None]} and len(specs[-1]["$or"]) == 3


async def test_operator_shaped_input_is_refused_before_mongodb(mongo_store, prefix, raw):
    await mongo_store.add_device("gas_demo", {"device_uid": UID, "flag": True})
    attempts = [
        mongo_store.get_device("gas_demo", {"$ne": None}),
        mongo_store.get_device("$where", UID),
        mongo_store.update_device("gas_demo", UID, {"$set": {"flag": False}}),
        mongo_store.list_devices("gas_demo", ListQuery(filters={"device_uid": {"$gt": ""}})),
        mongo_store.insert_readings("gas_demo", [{"device_uid": UID, "timestamp": {"$gt": 0}}]),
        mongo_store.find_user({"$regex": ".*"}),
        mongo_store.get_session("$ne", 0),
        mongo_store.list_devices("gas_demo", ListQuery(any_of={"device_uid": ({"$gt": ""},)})),
        mongo_store.list_devices("gas_demo", ListQuery(search={"$regex": ".*"})),
        mongo_store.get_api_token({"$ne": None}, 0),
        mongo_store.count_login_failures({"$ne": None}, 0),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput):
            await attempt
    assert (await mongo_store.get_device("gas_demo", UID))["flag"] is True
    assert await raw[prefix + "gas_demo"].data.count_documents({}) == 0


class _Proxy:
    """A TCP relay to the server that can be cut, to take the database away from an open store."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def cut(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def test_a_server_that_goes_away_raises_store_unavailable(mongodb_uri, prefix):
    port = int(mongodb_uri.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    proxy = _Proxy(port)
    proxy_port = await proxy.start()
    async with MongoStore(
        f"mongodb://127.0.0.1:{proxy_port}/?retryWrites=false&directConnection=true"
        "&serverSelectionTimeoutMS=500&connectTimeoutMS=500",
        db_prefix=prefix,
    ) as s:
        await s.add_device("gas_demo", {"device_uid": UID, "flag": True})
        await proxy.cut()
        with pytest.raises(StoreUnavailable):
            await s.record_report(
                "gas_demo", UID, {"battery": 1}, [{"device_uid": UID, "timestamp": 1766000000, "counter_val": 1}]
            )
        with pytest.raises(StoreUnavailable):
            await s.ping()


async def test_unreachable_server_and_unacknowledged_writes_are_refused_at_open():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    down = MongoStore(f"mongodb://127.0.0.1:{free_port}/?serverSelectionTimeoutMS=300", db_prefix="unused_")
    with pytest.raises(StoreUnavailable, match="unavailable"):
        await down.open()
    with pytest.raises(StoreUnavailable, match="not open"):
        await down.get_device_route(UID)
    with pytest.raises(ConfigError, match="w=0"):
        await MongoStore(f"mongodb://127.0.0.1:{free_port}/?w=0").open()
    with pytest.raises(ConfigError, match="db_prefix"):
        MongoStore("mongodb://127.0.0.1/", db_prefix="bad-prefix.")


async def test_write_errors_other_than_duplicates_are_raised(mongo_store, prefix, raw):
    # an operator's validator on an existing deployment refuses what the C server could not read
    await raw[prefix + "gas_demo"].create_collection(
        "data",
        validator={
            "$jsonSchema": {"bsonType": "object", "properties": {"counter_val": {"bsonType": "int", "maximum": 99999}}}
        },
    )
    good = [{"device_uid": UID, "timestamp": 1766000000 + i * 3600, "counter_val": i} for i in range(3)]
    assert await mongo_store.insert_readings("gas_demo", good[:1]) == 1
    with pytest.raises(StoreUnavailable, match="validation"):
        await mongo_store.insert_readings("gas_demo", good + [{**good[0], "timestamp": 1, "counter_val": 10**6}])
    assert await raw[prefix + "gas_demo"].data.count_documents({}) == 3  # unordered: the rest went in


async def test_duplicate_rows_of_an_existing_deployment_are_reported(mongo_store, prefix, raw):
    row = {"device_uid": UID, "timestamp": 1766000000, "counter_val": 1}
    await raw[prefix + "gas_legacy"].data.insert_many([dict(row), dict(row)])  # no unique index in the original
    with pytest.raises(StoreError, match="duplicates"):
        await mongo_store.insert_readings("gas_legacy", [{**row, "timestamp": 1766003600}])
    assert await raw[prefix + "gas_legacy"].data.count_documents({}) == 2


async def test_tenants_never_name_the_servers_own_databases(mongodb_uri, raw):
    common_db = unique_name("c")
    try:
        async with MongoStore(mongodb_uri, common_db=common_db) as s:  # no prefix: tenants are physical names
            for name in ("admin", "local", "config", "Admin"):
                with pytest.raises(InvalidInput, match="server's own"):
                    await s.add_tenant(name)
                with pytest.raises(InvalidInput):
                    await s.set_device_route(UID, name)
                with pytest.raises(InvalidInput):
                    await s.get_device(name, UID)
    finally:
        await raw.drop_database(common_db)


async def test_record_report_is_all_or_nothing_in_a_transaction(mongo_store, prefix, raw):
    await raw[prefix + "gas_demo"].create_collection(
        "event",
        validator={
            "$jsonSchema": {"bsonType": "object", "properties": {"event_code": {"bsonType": "int", "maximum": 2}}}
        },
    )
    await mongo_store.add_device("gas_demo", {"device_uid": UID, "flag": True, "battery": 100})
    slots = [{"device_uid": UID, "timestamp": 1766000000 + i * 3600, "counter_val": i} for i in range(24)]
    refused_event = {"event_time": 1766086400, "event_code": 7, "event_type": "unknown"}
    with pytest.raises(StoreUnavailable):
        await mongo_store.record_report("gas_demo", UID, {"battery": 1}, slots, refused_event)
    assert (await mongo_store.get_device("gas_demo", UID))["battery"] == 100
    assert await raw[prefix + "gas_demo"].data.count_documents({}) == 0
    assert (
        await mongo_store.record_report("gas_demo", UID, {"battery": 1}, slots, {**refused_event, "event_code": 2})
        == 24
    )


async def test_concurrent_reports_of_one_device_count_each_reading_once(mongo_store, prefix, raw):
    await mongo_store.add_device("gas_demo", {"device_uid": UID, "flag": True})
    slots = [{"device_uid": UID, "timestamp": 1766000000 + i * 3600, "counter_val": i} for i in range(30)]
    windows = [slots[start : start + 24] for start in (0, 2, 4, 6)]  # overlapping 24-slot windows, as sent
    new = await asyncio.gather(
        *(mongo_store.record_report("gas_demo", UID, {"last_count": w[-1]["counter_val"]}, w) for w in windows)
    )
    assert sum(new) == 30
    assert await raw[prefix + "gas_demo"].data.count_documents({"device_uid": UID}) == 30


@pytest.mark.parametrize("transactions", [True, False])
async def test_concurrent_resends_of_one_report_store_one_event(mongodb_uri, prefix, raw, transactions):
    async with MongoStore(mongodb_uri, db_prefix=prefix, transactions=transactions) as s:
        await s.add_device("gas_demo", {"device_uid": UID, "flag": True})
        slots = [{"device_uid": UID, "timestamp": 1766000000 + i * 3600, "counter_val": i} for i in range(24)]
        event = {"event_id": f"{UID}-E0-1-1766082800-99", "event_time": 1766086400, "event_code": 1}
        new = await asyncio.gather(*(s.record_report("gas_demo", UID, {"battery": 7}, slots, event) for _ in range(4)))
        assert sum(new) == 24
    events = raw[prefix + "gas_demo"].event
    assert await events.count_documents({}) == 1
    assert await events.count_documents({"event_id": event["event_id"]}) == 1
    indexes = await events.index_information()
    assert any(ix.get("unique") and ix["key"] == [("event_id", 1)] for ix in indexes.values())


class WriteFault:
    """Fails the ``fail_at``-th write (insert_many, insert_one, update_one) to one database with a dropped
    connection, as a crash or a network failure between two acknowledged writes would."""

    def __init__(self, monkeypatch, database: str, fail_at: int) -> None:
        from pymongo.asynchronous.collection import AsyncCollection
        from pymongo.errors import AutoReconnect

        self.writes: list[str] = []
        for method in ("insert_many", "insert_one", "update_one"):
            original = getattr(AsyncCollection, method)

            def wrapper(collection, *args, _original=original, _method=method, **kwargs):
                if collection.database.name == database:
                    self.writes.append(f"{collection.name}.{_method}")
                    if len(self.writes) == fail_at:
                        raise AutoReconnect(f"injected failure of write {fail_at} ({self.writes[-1]})")
                return _original(collection, *args, **kwargs)

            monkeypatch.setattr(AsyncCollection, method, wrapper)


async def report_state(s: MongoStore) -> tuple:
    return (
        await s.get_device("gas_demo", UID),
        (await s.list_readings("gas_demo", ListQuery(sort="timestamp", limit=100))).items,
        (await s.list_events("gas_demo", ListQuery())).items,
    )


@pytest.mark.fault
@pytest.mark.parametrize("fail_at", [1, 2, 3])
async def test_without_transactions_a_failed_report_never_gets_ahead_of_its_data(
    mongodb_uri, prefix, monkeypatch, fail_at
):
    """No transactions: the three writes of a report commit one by one. Whichever fails, the device must
    not claim a reading that is not stored, and the meter's resend must converge to one clean report."""
    device = {"device_uid": UID, "flag": True, "last_count": 0, "last_timestamp": 0}
    slots = [{"device_uid": UID, "timestamp": 1766000000 + i * 3600, "counter_val": 100 + i} for i in range(24)]
    fields = {"last_timestamp": slots[-1]["timestamp"], "last_count": slots[-1]["counter_val"], "battery": 77}
    event = {"event_id": f"{UID}-E0-1-{slots[-1]['timestamp']}-4242", "event_time": 1766086400, "event_code": 1}

    clean_prefix = unique_name("t") + "_"
    async with MongoStore(mongodb_uri, db_prefix=clean_prefix, transactions=False) as clean:
        await clean.add_device("gas_demo", device)
        await clean.record_report("gas_demo", UID, fields, slots, event)
        expected = await report_state(clean)

    async with MongoStore(mongodb_uri, db_prefix=prefix, transactions=False) as s:
        assert s.uses_transactions is False
        await s.add_device("gas_demo", device)
        fault = WriteFault(monkeypatch, prefix + "gas_demo", fail_at)
        with pytest.raises(StoreUnavailable, match="injected"):
            await s.record_report("gas_demo", UID, fields, slots, event)
        monkeypatch.undo()
        assert len(fault.writes) == fail_at
        stored, readings, events = await report_state(s)
        stored_ts = {r["timestamp"]: r["counter_val"] for r in readings}
        if stored["last_timestamp"]:  # the device says it reported: that reading and the event are stored
            assert stored_ts.get(stored["last_timestamp"]) == stored["last_count"], (fault.writes, stored)
            assert [e["event_id"] for e in events] == [event["event_id"]], fault.writes
        else:
            assert stored == {**device}, fault.writes

        assert await s.record_report("gas_demo", UID, fields, slots, event) == 24 - len(stored_ts)
        assert await report_state(s) == expected


# ---------------------------------------------------------------------------- write concern
class CommandLog(monitoring.CommandListener):
    """A pymongo command listener keeping the write concern of every write command sent."""

    WRITES = frozenset({"insert", "update", "delete", "findAndModify", "commitTransaction", "createIndexes"})

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict | None]] = []

    def started(self, event) -> None:
        if event.command_name in self.WRITES:
            self.sent.append((event.command_name, event.command.get("writeConcern")))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.fixture
def command_log(monkeypatch):
    """Every MongoStore client opened in the test reports its commands to the returned log."""
    import core.store.mongo.backend as backend_module

    log = CommandLog()
    real = backend_module.AsyncMongoClient
    monkeypatch.setattr(backend_module, "AsyncMongoClient", lambda *a, **kw: real(*a, event_listeners=[log], **kw))
    return log


@pytest.mark.parametrize("transactions", [True, False])
async def test_writes_are_majority_and_journaled_by_default(mongodb_uri, prefix, command_log, transactions):
    async with MongoStore(mongodb_uri, db_prefix=prefix, transactions=transactions) as s:
        await s.add_device("gas_demo", {"device_uid": UID, "flag": True})
        await s.record_report(
            "gas_demo",
            UID,
            {"battery": 5},
            [{"device_uid": UID, "timestamp": 1766000000, "counter_val": 1}],
            {"event_id": "e1", "event_time": 1766000000, "event_code": 1},
        )
        expected = {"w": "majority", "j": True, "wtimeout": 10000}
        assert s.client.write_concern.document == expected
        collections = [s._common[name] for name in ("misc_data", "device_route", "scale_weight_log", "sessions")]
        collections += [s._tenant_db("gas_demo")[name] for name in ("device", "data", "event", "users")]
        assert {c.full_name: c.write_concern.document for c in collections} == {
            c.full_name: expected for c in collections
        }
    # what reaches the server: every write outside a transaction, and every commit, asks for it
    # (inside a transaction the individual writes carry none: the commit does)
    asked = [concern for name, concern in command_log.sent if concern is not None]
    commits = [concern for name, concern in command_log.sent if name == "commitTransaction"]
    assert asked and all(concern == expected for concern in asked), command_log.sent
    assert bool(commits) is transactions
    if not transactions:
        assert all(concern == expected for _, concern in command_log.sent)


async def test_the_write_concern_comes_from_the_store_options(mongodb_uri, prefix, tmp_path):
    from core.config import load_config

    config_file = tmp_path / "specgate.yaml"
    config_file.write_text(
        f"store:\n  url: {mongodb_uri!r}\n  options:\n    db_prefix: {prefix}\n"
        "    write_concern: {w: 1, j: false, wtimeout_ms: 2500}\n"
    )
    config = load_config(str(config_file), env={})
    async with open_store(config.store_url, **config.store_options) as s:
        assert s.client.write_concern.document == {"w": 1, "j": False, "wtimeout": 2500}
        assert s._tenant_db("gas_demo")["data"].write_concern.document == {"w": 1, "j": False, "wtimeout": 2500}
        await s.insert_readings("gas_demo", [{"device_uid": UID, "timestamp": 1, "counter_val": 1}])
    # keys left out keep the default; a URI's own write concern is used when the options give none
    async with MongoStore(mongodb_uri, db_prefix=prefix, write_concern={"wtimeout_ms": 0}) as s:
        assert s.client.write_concern.document == {"w": "majority", "j": True, "wtimeout": 0}
    separator = "&" if "?" in mongodb_uri else "?"
    async with MongoStore(f"{mongodb_uri}{separator}w=1", db_prefix=prefix) as s:
        assert s.client.write_concern.document == {"w": 1}
    async with MongoStore(f"{mongodb_uri}{separator}w=1", db_prefix=prefix, write_concern={"j": True}) as s:
        assert s.client.write_concern.document == {"w": "majority", "j": True, "wtimeout": 10000}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"w": 0}, "unacknowledged"),
        ({"w": -1}, "write_concern.w"),
        ({"w": True}, "write_concern.w"),
        ({"w": ""}, "write_concern.w"),
        ({"w": 1.5}, "write_concern.w"),
        ({"j": "yes"}, "write_concern.j"),
        ({"wtimeout_ms": -1}, "wtimeout_ms"),
        ({"wtimeout_ms": 1.5}, "wtimeout_ms"),
        ({"journal": True}, "unknown key"),
        ("majority", "must be a mapping"),
    ],
)
def test_an_invalid_write_concern_is_a_config_error(mongodb_uri, bad, message):
    with pytest.raises(ConfigError, match=message):
        open_store(mongodb_uri, write_concern=bad)


async def test_a_write_concern_the_deployment_cannot_satisfy_fails_instead_of_acknowledging(mongodb_uri, prefix):
    # the test server is one node: three members can never acknowledge, and the store says so
    with pytest.raises(StoreUnavailable, match="MongoDB"):
        async with MongoStore(mongodb_uri, db_prefix=prefix, write_concern={"w": 3, "wtimeout_ms": 500}):
            pass
