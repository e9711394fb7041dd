"""database (the DB viewer) and insert of the compatible endpoint (§5.5): an administrator's, over its own
tenant's collections, equality filters only, never a password hash."""

from __future__ import annotations

import hashlib

import pytest

from tests.web.support import app_client
from tests.web.test_compat import OTHER, TENANT, call, compat_login, seed_devices
from tests.web.test_compat_readings import reading

#: the §5.5 example request of the Flutter DB viewer (login fields are added from the session)
VIEW = {
    "action": "view",
    "db": TENANT,
    "table": "data",
    "fields": [],
    "filter": {"device_uid": "D4245A98"},
    "limit": 100,
    "orderby": "timestamp",
}


async def test_the_tree_lists_the_caller_s_tenant_only(store):
    await seed_devices(store)
    await store.insert_readings(TENANT, [reading("D4245A98", 1741190400, 1234)])
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        v3 = await call(client, "database", admin, action="list", page="database")
        v2 = await call(client, "query", admin, page="database", action="get_db_tree")
    body = v3.json()
    assert set(body) == {"code", "elasped_time", "data"}
    [entry] = body["data"]
    assert entry["db"] == TENANT
    assert (
        {"users", "device", "data"} <= set(entry["collections"]) <= {"users", "device", "data", "subscriber", "event"}
    )
    assert v2.json()["data"] == body["data"]


async def test_view_answers_rows_fields_and_total(store):
    await seed_devices(store)
    await store.insert_readings(
        TENANT, [reading("D4245A98", 1741190400 + hour * 3600, 1234 + hour) for hour in range(3)] + [reading("X", 1, 1)]
    )
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "database", admin, **VIEW)
        limited = await call(client, "database", admin, **{**VIEW, "limit": 1, "orderby": "timestamp: desc"})
        v2 = await call(
            client,
            "query",
            admin,
            page="database",
            action="get_db_data",
            **{k: v for k, v in VIEW.items() if k != "action"},
        )
    body = response.json()
    assert (body["code"], body["total_records"]) == (200, 3)
    assert body["fields"] == ["device_uid", "timestamp", "counter_val", "year", "month", "day", "hour", "wday", "week"]
    assert body["data"][0] == {
        "device_uid": "D4245A98",
        "timestamp": 1741190400,
        "counter_val": 1234,
        "year": 2025,
        "month": 3,
        "day": 6,
        "hour": 1,
        "wday": 4,
        "week": 10,
    }
    assert "elasped_time" in body
    assert (limited.json()["total_records"], [row["counter_val"] for row in limited.json()["data"]]) == (3, [1236])
    assert v2.json()["data"] == body["data"]


async def test_missing_fields_show_a_dash_and_hashes_never_show(store):
    await seed_devices(store)
    await store.update_user(TENANT, "viewer", {"userseq": "ca29e7325bf9825817bc185cb3435f49", "groups": "g"})
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "database", admin, action="view", db=TENANT, table="users", orderby="ID")
        projected = await call(client, "database", admin, action="view", table="users", fields=["ID", "passwd"])
    body = response.json()
    assert [row["ID"] for row in body["data"]] == ["admin", "installer", "viewer"]
    assert "passwd" not in body["fields"] and "userseq" not in body["fields"]
    assert body["data"][0]["groups"] == "-"
    assert all("passwd" not in row and "userseq" not in row for row in body["data"])
    assert projected.json()["data"][0] == {"ID": "admin", "passwd": "-"}


@pytest.mark.parametrize(
    "fields",
    [
        {"filter": {"$where": "sleep(1000)"}},
        {"filter": {"ID": {"$regex": "^a"}}},
        {"filter": {"ID": {"$ne": None}}},
        {"filter": {"$expr": {"$eq": ["$ID", "$name"]}}},
        {"filter": {"ID": ["admin"]}},
        {"filter": {"passwd": hashlib.sha256(b"correct horse battery").hexdigest()}},
        {"orderby": "passwd"},
        {"filter": "ID == admin"},
    ],
)
async def test_operators_and_hidden_fields_are_refused(store, fields):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "database", admin, action="view", db=TENANT, table="users", **fields)
    assert response.status_code == 200
    assert response.json()["code"] == 400
    assert "data" not in response.json()


async def test_only_the_tenant_s_allowed_collections(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        other = await call(client, "database", admin, action="view", db=OTHER, table="users")
        assert other.status_code == 403
        for db, table in ((TENANT, "sessions"), ("gas_common", "user_route"), (TENANT, "api_tokens"), (TENANT, "x")):
            response = await call(client, "database", admin, action="view", db=db, table=table)
            assert response.json()["code"] in (400, 403), (db, table)
            assert "data" not in response.json()


async def test_the_viewer_is_an_administrator_s(store):
    await seed_devices(store)
    async with app_client(store) as client:
        for login_id in ("installer", "viewer"):
            session = await compat_login(client, login_id)
            for fields in ({"action": "list"}, VIEW):
                response = await call(client, "database", session, **fields)
                assert response.status_code == 403
                assert response.json() == {"code": 403, "message": "Permission denied"}
            insert = await call(client, "insert", session, db=TENANT, table="subscriber", data=[{"customer_no": "S1"}])
            assert insert.status_code == 403


async def test_insert_adds_subscribers_and_devices_checked_first(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        subscribers = [{"customer_no": "S1", "meter_id": "1", "share_house": "X"}, {"customer_no": "S2", "meter_id": 2}]
        response = await call(client, "insert", admin, db=TENANT, table="subscriber", data=subscribers)
        assert response.json() == {
            "code": 200,
            "elasped_time": response.json()["elasped_time"],
            "data": {"inserted_count": 2},
        }
        again = await call(
            client, "insert", admin, db=TENANT, table="subscriber", data=[{"customer_no": "S3"}, {"customer_no": "S1"}]
        )
        assert again.json()["code"] == 409
        bad = await call(
            client,
            "insert",
            admin,
            db=TENANT,
            table="subscriber",
            data=[{"customer_no": "S4"}, {"customer_no": "S5", "x": 1}],
        )
        assert bad.json()["code"] == 400
        redirect = [{"device_uid": "F0000002", "server_ip": "192.0.2.10"}]
        assert (await call(client, "insert", admin, db=TENANT, table="device", data=redirect)).status_code == 403
        for bad in ([{"device_uid": "bad uid"}], [{"device_uid": "F0000003", "installer_id": "nobody"}]):
            assert (await call(client, "insert", admin, db=TENANT, table="device", data=bad)).json()["code"] == 400
        devices = [{"device_uid": "F0000001", "meter_id": "m1", "ref_interval": "3600", "installer_id": "installer"}]
        response = await call(client, "insert", admin, db=TENANT, table="device", data=devices)
        assert response.json()["data"] == {"inserted_count": 1}
        taken = await call(client, "insert", admin, db=TENANT, table="device", data=[{"device_uid": "B0000001"}])
        assert taken.json()["code"] == 409
        for table in ("users", "user_route", "sessions"):
            forbidden = await call(
                client, "insert", admin, db=TENANT, table=table, data=[{"ID": "root", "role": "admin"}]
            )
            assert forbidden.json()["code"] == 400, table
        elsewhere = await call(client, "insert", admin, db=OTHER, table="subscriber", data=[{"customer_no": "S9"}])
        assert elsewhere.status_code == 403
    assert (await store.get_subscriber(TENANT, "S2"))["meter_id"] == "2"
    assert await store.get_subscriber(TENANT, "S3") is None and await store.get_subscriber(TENANT, "S4") is None
    device = await store.get_device(TENANT, "F0000001")
    assert (device["meter_id"], device["ref_interval"], device["flag"]) == ("m1", 3600, False)
    assert await store.get_device_route("F0000002") is None and await store.get_device_route("F0000003") is None
    assert await store.get_device_route("F0000001") == TENANT
    assert await store.find_user("root") is None
    assert await store.get_subscriber(OTHER, "S9") is None
