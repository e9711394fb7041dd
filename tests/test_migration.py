"""docs/migration.md, run: a MongoDB database laid out exactly like the original system's, a meter served
against it, an original client logging in and listing devices through the compatible endpoint (its
unsalted password hash upgraded at that login), and the CYNOW scale gateway's weighing log imported."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import yaml
from pymongo import AsyncMongoClient

from core.app import Application
from core.cli import main
from core.config import Config, ListenerConfig
from core.plugins import get_plugin_manager
from core.security.passwords import is_legacy_hash, verify_password
from core.store import ListQuery
from core.store.mongo import MongoStore
from tests.conftest import unique_name
from tests.gas_meter.gas_meter_helpers import LEGACY_DEVICE, NOW, hourly_slots, report_bytes
from tests.gas_meter.gas_meter_helpers import LEGACY_UID as UID

PASSWORD = "original-password"
#: the original's users document: unsalted SHA-256, a BSON-date-free v2 layout, role as the client set it
LEGACY_USER = {
    "ID": "hanskim",
    "code": "U24110319484920",
    "email": "hanskimvz@gmail.com",
    "flag": True,
    "lang": "kor",
    "name": "Hans Kim",
    "regdate": "2024-11-03 10:48:49",
    "role": "admin",
    "passwd": hashlib.sha256(PASSWORD.encode()).hexdigest(),
}
EXPORT = (
    "id,scale_id,cylinder_no,event_type,gross_kg,raw_line,received_at,committed_at,arrival_shipping_no,move_report_no\n"
    '7,default,CY123456789,SHIP,53.26,"ST , +000053.26 _kg",2025-12-18T12:00:00+09:00,2025-12-18T12:01:00+09:00,'
    "AS20251218-0001,\n"
)


async def test_an_original_deployment_is_taken_over_in_place(mongodb_uri, tmp_path):
    prefix = unique_name("t") + "_"
    raw = AsyncMongoClient(mongodb_uri)
    common, tenant = raw[prefix + "gas_common"], raw[prefix + "gas_demo"]
    try:
        await common.device_route.insert_one({"device_uid": UID, "db_name": "gas_demo"})
        await common.user_route.insert_one({"ID": "hanskim", "db_name": "gas_demo"})
        await tenant.users.insert_one(dict(LEGACY_USER))
        await tenant.device.insert_one(dict(LEGACY_DEVICE))

        config = Config(
            store_url=mongodb_uri,
            store_options={"db_prefix": prefix},
            tz_offset=32400,
            listeners=[ListenerConfig("gas_meter", port=0, host="127.0.0.1")],
            shutdown_grace=2.0,
        )
        async with (
            MongoStore(mongodb_uri, db_prefix=prefix) as store,
            Application(config, pm=get_plugin_manager(installed=False), store=store, clock=lambda: NOW) as app,
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", app.gateway.port("gas_meter"))
            writer.write(report_bytes("normal", UID, hourly_slots(NOW), battery=77, uptime=5000))
            reply = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            assert len(reply) == 32 and reply[1:9] == UID.encode()

            transport = httpx.ASGITransport(app=app.web, client=("203.0.113.9", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://specgate.test") as client:
                login = (
                    await client.post("/api/login", json={"id": "hanskim", "password": PASSWORD, "format": "json"})
                ).json()
                assert login["code"] == 200 and login["data"]["db_name"] == "gas_demo"
                assert login["data"]["level"] == 16 and "passwd" not in login["data"]
                body = {
                    "page": "device_info",
                    "format": "json",
                    "db_name": "gas_demo",
                    "login_id": "hanskim",
                    "userseq": login["data"]["userseq"],
                    "role": "admin",
                    "fields": [],
                }
                devices = (await client.post("/api/query", json=body)).json()
            assert devices["code"] == 200 and [d["device_uid"] for d in devices["data"]] == [UID]
            assert devices["data"][0]["battery"] == 77  # the report the gateway just stored

        stored = await tenant.users.find_one({"ID": "hanskim"})
        assert not is_legacy_hash(stored["passwd"]) and verify_password(PASSWORD, stored["passwd"])
        assert await tenant.data.count_documents({"device_uid": UID}) == 24

        site = tmp_path / "site.yaml"
        site.write_text(yaml.safe_dump({"store": {"url": mongodb_uri, "options": {"db_prefix": prefix}}}))
        export = tmp_path / "ScaleWeightLog.csv"
        export.write_text(EXPORT)
        assert await asyncio.to_thread(main, ["weighings", "import", str(export), "--config", str(site)]) == 0
        async with MongoStore(mongodb_uri, db_prefix=prefix) as store:
            [weighing] = (await store.search_weighings(ListQuery())).items
        assert (weighing["source_id"], weighing["cylinder_no"], str(weighing["gross_kg"])) == (
            "7",
            "CY123456789",
            "53.26",
        )
    finally:
        await raw.drop_database(prefix + "gas_common")
        await raw.drop_database(prefix + "gas_demo")
        await raw.close()
