"""The subscribers API (/api/v1/subscribers): one at a time, imports, binding, on both store backends."""

from __future__ import annotations

from core.store import ListQuery
from tests.web.accounts_support import session
from tests.web.support import add_user, app_client

CSV = {"content-type": "text/csv; charset=utf-8"}


def subscriber(customer_no: str, meter_id: str = "365478965162", **fields) -> dict:
    return {"customer_no": customer_no, "meter_id": meter_id, "customer_name": f"Customer {customer_no}", **fields}


async def staff(store) -> None:
    await add_user(store, "gas_a", "boss", "admin")
    await add_user(store, "gas_a", "op1", "operator")
    await add_user(store, "gas_a", "inst1", "installer")
    await add_user(store, "gas_a", "usr1", "user")
    await add_user(store, "gas_a", "view1", "viewer")


async def test_create_update_read_and_delete(store):
    await staff(store)
    async with app_client(store) as client:
        operator = await session(client, "op1")
        created = await client.post("/api/v1/subscribers", json=subscriber("S1", share_house="O"), headers=operator)
        assert created.status_code == 201, created.text
        shown = created.json()["subscriber"]
        assert (shown["customer_no"], shown["binded"], shown["bind_device_id"], shown["bind_date"]) == (
            "S1",
            False,
            None,
            None,
        )
        updated = await client.post(
            "/api/v1/subscribers", json={"customer_no": "S1", "addr_city": "Seoul", "checked": True}, headers=operator
        )
        assert updated.status_code == 200 and updated.json()["created"] is False
        one = (await client.get("/api/v1/subscribers/S1", headers=operator)).json()["subscriber"]
        assert (one["meter_id"], one["addr_city"], one["checked"], one["share_house"]) == (
            "365478965162",
            "Seoul",
            True,
            "O",
        )
        await client.post("/api/v1/subscribers", json=subscriber("S2", "111122223333"), headers=operator)
        for body in (
            {"customer_no": "S3"},  # a new subscriber needs its meter
            subscriber("S3", share_house="Y"),
            subscriber("S3", binded=True),
            subscriber("S3", bind_device_id="D0000001"),
            subscriber("S3", checked="yes"),
            subscriber("$S3"),
            {"meter_id": "1"},
            subscriber("S3", customer_name=["x"]),
        ):
            response = await client.post("/api/v1/subscribers", json=body, headers=operator)
            assert response.status_code == 400, (body, response.text)
        assert await store.get_subscriber("gas_a", "S3") is None

        listing = (await client.get("/api/v1/subscribers", headers=operator)).json()
        assert [item["customer_no"] for item in listing["items"]] == ["S1", "S2"] and listing["total"] == 2
        by_meter = (
            await client.get("/api/v1/subscribers", params={"meter_id": "111122223333"}, headers=operator)
        ).json()
        assert [item["customer_no"] for item in by_meter["items"]] == ["S2"]
        unbound = (await client.get("/api/v1/subscribers", params={"binded": "false"}, headers=operator)).json()
        assert unbound["total"] == 2
        searched = (await client.get("/api/v1/subscribers", params={"q": "customer s2"}, headers=operator)).json()
        assert [item["customer_no"] for item in searched["items"]] == ["S2"]

        assert (await client.delete("/api/v1/subscribers/S1", headers=operator)).status_code == 200
        assert (await client.get("/api/v1/subscribers/S1", headers=operator)).status_code == 404
        assert (await client.delete("/api/v1/subscribers/S1", headers=operator)).status_code == 404


async def test_who_may_read_manage_and_bind(store):
    await staff(store)
    await store.upsert_subscriber("gas_a", subscriber("S1"))
    async with app_client(store) as client:
        installer, user, viewer = [await session(client, name) for name in ("inst1", "usr1", "view1")]
        assert (await client.get("/api/v1/subscribers", headers=viewer)).status_code == 403
        assert (await client.get("/api/v1/subscribers/S1", headers=user)).status_code == 403
        assert (await client.get("/api/v1/subscribers/S1", headers=installer)).status_code == 200
        assert (await client.post("/api/v1/subscribers", json=subscriber("S2"), headers=installer)).status_code == 403
        assert (await client.delete("/api/v1/subscribers/S1", headers=installer)).status_code == 403
        bind = await client.post("/api/v1/subscribers/S1/bind", json={"device_uid": "D0000001"}, headers=viewer)
        assert bind.status_code == 403
        assert (await client.get("/api/v1/subscribers")).status_code == 401


async def test_csv_import_reports_every_row(store):
    await staff(store)
    await store.upsert_subscriber("gas_a", subscriber("S9", customer_name="Old name"))
    rows = [
        "customer_no,customer_name,subscriber_no,meter_id,share_house,checked",
        "S1,Kim,1204321613,365478965162,O,true",
        "S2,Lee,1204321614,365478965163,,",
        "S1,Kim again,1204321615,365478965164,X,",
        "S3,Park,1204321616,,O,",
        "S4,Choi,1204321617,365478965165,Y,",
        "S5,Jung,1204321618,365478965166,X,maybe",
        "S6,Kang,1204321619,365478965167,X,false,extra",
        "S9,New name,1204321620,365478965168,X,",
    ]
    async with app_client(store) as client:
        admin = await session(client, "boss")
        response = await client.post("/api/v1/subscribers/import", content="\r\n".join(rows), headers={**CSV, **admin})
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["ok"], report["import_count"], report["duplicated_count"], report["failed_count"]) == (
            True,
            3,
            1,
            4,
        )
        assert report["import_records"] == [
            {"row": 1, "customer_no": "S1", "customer_name": "Kim", "subscriber_no": "1204321613", "created": True},
            {"row": 2, "customer_no": "S2", "customer_name": "Lee", "subscriber_no": "1204321614", "created": True},
            {
                "row": 8,
                "customer_no": "S9",
                "customer_name": "New name",
                "subscriber_no": "1204321620",
                "created": False,
            },
        ]
        [duplicate] = report["duplicated_records"]
        assert (duplicate["row"], duplicate["customer_no"], duplicate["customer_name"]) == (3, "S1", "Kim again")
        assert "earlier" in duplicate["error"]
        failures = {record["customer_no"]: record["error"] for record in report["failed_records"]}
        assert [record["row"] for record in report["failed_records"]] == [4, 5, 6, 7]
        assert "meter_id" in failures["S3"] and "share_house" in failures["S4"]
        assert "checked" in failures["S5"] and "more cells" in failures["S6"]

        first = await store.get_subscriber("gas_a", "S1")
        assert (first["customer_name"], first["checked"], first["share_house"], first["binded"]) == (
            "Kim",
            True,
            "O",
            False,
        )
        assert "share_house" not in await store.get_subscriber("gas_a", "S2")  # an empty cell is left out
        assert (await store.get_subscriber("gas_a", "S9"))["customer_name"] == "New name"
        assert await store.get_subscriber("gas_a", "S3") is None


async def test_json_import_reports_every_row(store):
    await staff(store)
    items = [
        subscriber("S1", subscriber_no="100"),
        "not an object",
        {**subscriber("S2"), "colour": "blue"},
        {"customer_no": "S3"},
        subscriber("S1", subscriber_no="101"),
        subscriber("S4", meter_id=365478965162),
    ]
    async with app_client(store) as client:
        operator = await session(client, "op1")
        report = (await client.post("/api/v1/subscribers/import", json={"items": items}, headers=operator)).json()
        assert (report["import_count"], report["duplicated_count"], report["failed_count"]) == (1, 1, 4)
        assert report["import_records"][0]["customer_no"] == "S1"
        assert report["duplicated_records"][0]["row"] == 5 and report["duplicated_records"][0]["subscriber_no"] == "101"
        assert [record["row"] for record in report["failed_records"]] == [2, 3, 4, 6]
        assert report["failed_records"][0]["customer_no"] is None
        assert "colour" in report["failed_records"][1]["error"]
        assert (await store.get_subscriber("gas_a", "S1"))["subscriber_no"] == "100"
        for body in ({"items": "S1"}, {"rows": []}, {"items": items, "mode": "replace"}):
            assert (await client.post("/api/v1/subscribers/import", json=body, headers=operator)).status_code == 400


async def test_import_limits(store):
    await staff(store)
    async with app_client(store) as client:
        operator = await session(client, "op1")
        many = "customer_no,meter_id\n" + "".join(f"S{n},M{n}\n" for n in range(5001))
        too_many = await client.post("/api/v1/subscribers/import", content=many, headers={**CSV, **operator})
        assert too_many.status_code == 413
        as_json = {"items": [subscriber(f"S{n}") for n in range(5001)]}
        assert (await client.post("/api/v1/subscribers/import", json=as_json, headers=operator)).status_code == 413
        huge = "customer_no,meter_id,comment\n" + "S1,M1," + "x" * (2 * 1024 * 1024) + "\n"
        assert (
            await client.post("/api/v1/subscribers/import", content=huge, headers={**CSV, **operator})
        ).status_code == 413
        plain = {"content-type": "text/plain", **operator}
        assert (await client.post("/api/v1/subscribers/import", content="a,b\n", headers=plain)).status_code == 415
        latin = "customer_no,customer_name,meter_id\nS1,Caf\xe9,M1\n".encode("latin-1")
        assert (
            await client.post("/api/v1/subscribers/import", content=latin, headers={**CSV, **operator})
        ).status_code == 400
        assert (
            await client.post("/api/v1/subscribers/import", content="", headers={**CSV, **operator})
        ).status_code == 400
        assert (await store.list_subscribers("gas_a", ListQuery())).total == 0
        exactly = "customer_no,meter_id\n" + "".join(f"S{n},\n" for n in range(5000))  # rows that fail: no writes
        report = (await client.post("/api/v1/subscribers/import", content=exactly, headers={**CSV, **operator})).json()
        assert (report["import_count"], report["failed_count"]) == (0, 5000)


async def test_a_large_import_is_written_in_batches(store):
    await staff(store)
    for n in range(0, 250, 2):
        await store.upsert_subscriber("gas_a", {"customer_no": f"S{n:03}", "meter_id": "old", "binded": True})
    rows = "customer_no,meter_id\n" + "".join(f"S{n:03},M{n}\n" for n in range(250)) + "S007,again\n"
    async with app_client(store) as client:
        operator = await session(client, "op1")
        report = (await client.post("/api/v1/subscribers/import", content=rows, headers={**CSV, **operator})).json()
    assert (report["import_count"], report["duplicated_count"], report["failed_count"]) == (250, 1, 0)
    assert [record["row"] for record in report["import_records"]] == list(range(1, 251))
    assert [record["created"] for record in report["import_records"]] == [n % 2 == 1 for n in range(250)]
    page = await store.list_subscribers("gas_a", ListQuery(limit=1000))
    assert page.total == 250 and all(item["meter_id"] == f"M{int(item['customer_no'][1:])}" for item in page.items)
    kept = {item["customer_no"]: item["binded"] for item in page.items}
    assert kept["S000"] is True and kept["S001"] is False  # an update leaves the binding as it was


async def test_binding_a_subscriber_to_a_device(store):
    await staff(store)
    await add_user(store, "gas_a", "inst2", "installer")
    await store.add_device("gas_a", {"device_uid": "D0000001", "installer_id": "inst1", "flag": True})
    await store.add_device("gas_a", {"device_uid": "D0000002", "installer_id": "inst2", "flag": True})
    await store.add_device("gas_b", {"device_uid": "D0000009", "flag": True})
    await store.upsert_subscriber("gas_a", subscriber("S1", customer_name="Kim", addr_city="Seoul", share_house="O"))
    await store.upsert_subscriber("gas_a", subscriber("S2"))
    async with app_client(store) as client:
        installer, operator = await session(client, "inst1"), await session(client, "op1")

        def bind(customer_no, device_uid, headers=installer):
            path = f"/api/v1/subscribers/{customer_no}/bind"
            return client.post(path, json={"device_uid": device_uid}, headers=headers)

        assert (await bind("S1", "D0000009")).status_code == 404  # another tenant's device
        assert (await bind("S1", "D0000002")).status_code == 404  # another installer's device
        assert (await bind("S1", "D0000404")).status_code == 404
        assert (await bind("S404", "D0000001")).status_code == 404
        bound = await bind("S1", "D0000001")
        assert bound.status_code == 200, bound.text
        shown = bound.json()["subscriber"]
        assert (shown["binded"], shown["bind_device_id"], shown["bind_date"]) == (
            True,
            "D0000001",
            "2025-12-18 12:00:00",
        )
        device = await store.get_device("gas_a", "D0000001")
        assert (device["customer_no"], device["customer_name"], device["addr_city"], device["share_house"]) == (
            "S1",
            "Kim",
            "Seoul",
            "O",
        )
        assert device["installer_id"] == "inst1" and "meter_id" not in device
        assert (await bind("S1", "D0000001")).status_code == 200  # the same binding again
        assert (await bind("S2", "D0000001")).status_code == 409  # the device has its subscriber
        assert (await bind("S1", "D0000002", operator)).status_code == 409  # the subscriber has its device
        listed = await client.get("/api/v1/subscribers", params={"bind_device_id": "D0000001"}, headers=operator)
        assert [item["customer_no"] for item in listed.json()["items"]] == ["S1"]
        assert (await client.get("/api/v1/subscribers", params={"binded": "true"}, headers=operator)).json()[
            "total"
        ] == 1

        unbound = await client.post("/api/v1/subscribers/S1/unbind", headers=installer)
        assert unbound.status_code == 200
        shown = unbound.json()["subscriber"]
        assert (shown["binded"], shown["bind_device_id"], shown["bind_date"]) == (False, None, None)
        device = await store.get_device("gas_a", "D0000001")
        assert (device["customer_no"], device["customer_name"], device["installer_id"]) == (None, None, "inst1")
        assert (await client.post("/api/v1/subscribers/S1/unbind", headers=installer)).status_code == 200

        assert (await bind("S2", "D0000002", operator)).status_code == 200
        assert (await client.post("/api/v1/subscribers/S2/unbind", headers=installer)).status_code == 404
        assert (await client.delete("/api/v1/subscribers/S2", headers=operator)).status_code == 200
        assert (await store.get_device("gas_a", "D0000002"))["customer_no"] is None


async def test_another_tenants_subscribers_are_not_found(store):
    await add_user(store, "gas_a", "boss_a", "admin")
    await add_user(store, "gas_b", "boss_b", "admin")
    await store.upsert_subscriber("gas_a", subscriber("S1"))
    await store.add_device("gas_b", {"device_uid": "D0000009", "flag": True})
    async with app_client(store) as client:
        admin_b = await session(client, "boss_b")
        for method, path, body in (
            ("GET", "/api/v1/subscribers/S1", None),
            ("DELETE", "/api/v1/subscribers/S1", None),
            ("POST", "/api/v1/subscribers/S1/bind", {"device_uid": "D0000009"}),
            ("POST", "/api/v1/subscribers/S1/unbind", None),
        ):
            response = await client.request(method, path, json=body, headers=admin_b)
            assert response.status_code == 404, (method, path, response.text)
        assert (await client.get("/api/v1/subscribers", headers=admin_b)).json()["total"] == 0
        created = await client.post("/api/v1/subscribers", json=subscriber("S1", "999"), headers=admin_b)
        assert created.status_code == 201  # its own S1, beside tenant A's
        assert (await store.get_subscriber("gas_a", "S1"))["meter_id"] == "365478965162"
        assert (await store.get_device("gas_b", "D0000009")).get("customer_no") is None
