"""The gateway pointed at a database left by the original system: it serves its meters as they are, and
what it writes keeps the original field names and BSON types (the original C server reads them back)."""

from __future__ import annotations

import asyncio

from gas_meter_helpers import LEGACY_DEVICE, NOW, NOW_LOCAL, hourly_slots, make_config, reply_bytes, report_bytes
from gas_meter_helpers import LEGACY_UID as UID
from pymongo import AsyncMongoClient

from core.gateway.runtime import Gateway
from core.plugins import get_plugin_manager
from core.store.mongo import MongoStore
from plugins.gas_meter.simulator import gas_meter_spec
from tests.conftest import unique_name


async def test_a_legacy_database_is_served_and_written_compatibly(mongodb_uri):
    prefix = unique_name("t") + "_"
    raw = AsyncMongoClient(mongodb_uri)
    common, tenant = raw[prefix + "gas_common"], raw[prefix + "gas_demo"]
    slots = hourly_slots(NOW, first_count=10000, n=24, per_hour=7)
    try:
        await common.device_route.insert_one({"device_uid": UID, "db_name": "gas_demo"})
        await common.user_route.insert_one({"ID": "hanskim", "db_name": "gas_demo"})
        await tenant.device.insert_one(dict(LEGACY_DEVICE))
        # the older half of the packet's window is already stored, as the C server left it
        await tenant.data.insert_many(
            [{"device_uid": UID, "timestamp": ts, "counter_val": count, "year": 2025} for ts, count in slots[12:]]
        )

        pm = get_plugin_manager(installed=False)
        async with (
            MongoStore(mongodb_uri, db_prefix=prefix) as store,
            Gateway(make_config(), store, pm, specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW) as gateway,
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port("gas_meter"))
            writer.write(report_bytes("normal", UID, slots, battery=77, uptime=5000))
            reply = await asyncio.wait_for(reader.read(), 10)
            writer.close()

        newest = 10000 + 23 * 7
        assert reply == reply_bytes(0xC0, UID, NOW, NOW + 43200, newest, 10, 7200, "192.0.2.10", 5004)

        int32 = {"$type": "int"}
        device = await tenant.device.find_one({"device_uid": UID})
        assert device["flag"] is True and device["customer_name"] == "이순신"
        assert (device["battery"], device["uptime"], device["last_count"], device["last_timestamp"]) == (
            77,
            5000,
            newest,
            NOW,
        )
        assert device["last_access"] == NOW_LOCAL
        for name in (
            "battery",
            "uptime",
            "last_count",
            "last_timestamp",
            "ref_interval",
            "server_port",
            "initial_count",
            "minimum",
            "maximum",
        ):
            assert await tenant.device.count_documents({"device_uid": UID, name: int32}) == 1, name
        assert await tenant.device.count_documents({"device_uid": UID, "flag": {"$type": "bool"}}) == 1

        # 12 legacy rows + 12 new ones: the overlap was not stored twice
        assert await tenant.data.count_documents({"device_uid": UID}) == 24
        new_rows = tenant.data.find({"device_uid": UID, "timestamp": {"$gt": NOW - 12 * 3600}}).sort("timestamp", 1)
        rows = [row async for row in new_rows]
        assert [(r["timestamp"], r["counter_val"]) for r in rows] == sorted(slots[:12])
        assert rows[-1]["day"] == 6 and rows[-1]["hour"] == 1 and rows[-1]["wday"] == 4 and rows[-1]["week"] == 10
        for name in ("timestamp", "counter_val", "year", "month", "day", "hour", "wday", "week"):
            assert await tenant.data.count_documents({"device_uid": UID, name: int32}) == (
                24 if name in ("timestamp", "counter_val", "year") else 12
            ), name

        exchange = await common.misc_data.find_one({})
        assert isinstance(exchange["recv"], bytes) and exchange["recv"][1:9] == UID.encode()
        assert exchange["send"] == reply and exchange["datetime"] == NOW_LOCAL
        assert (
            await common.misc_data.count_documents(
                {"port": int32, "recv_len": int32, "send_len": int32, "recv": {"$type": "binData"}}
            )
            == 1
        )
    finally:
        await raw.drop_database(prefix + "gas_common")
        await raw.drop_database(prefix + "gas_demo")
        await raw.close()
