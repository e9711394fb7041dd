"""subscriber of the compatible endpoint (§6.5): list and view as v3, and the v3 mocks made real."""

from __future__ import annotations

from tests.web.support import app_client
from tests.web.test_compat import OTHER, TENANT, call, compat_login, seed_devices

SUBSCRIBER = {
    "customer_no": "S32649713",
    "customer_name": "홍길동",
    "subscriber_no": "1204321613",
    "meter_id": "365478965162",
    "addr_prov": "",
    "addr_city": "서울시",
    "addr_dist": "강남구",
    "addr_dong": "신사동",
    "addr_road": "",
    "addr_apt": "반도빌라",
    "addr_detail": "반도빌라204",
    "class": "4(G2.5)",
    "share_house": "O",
    "in_outdoor": "실내",
    "category": "주택용",
    "checked": False,
    "bind_device_id": None,
    "bind_date": None,
    "binded": False,
}


async def seed(store) -> None:
    await seed_devices(store)
    await store.upsert_subscriber(TENANT, SUBSCRIBER)
    await store.upsert_subscriber(TENANT, {**SUBSCRIBER, "customer_no": "S2", "meter_id": "2", "binded": True})
    await store.upsert_subscriber(OTHER, {**SUBSCRIBER, "customer_no": "S3"})


async def test_list_answers_the_tenant_s_subscribers(store):
    await seed(store)
    async with app_client(store) as client:
        installer = await compat_login(client, "installer")
        response = await call(client, "subscriber", installer, action="list", fields=[])
        body = response.json()
        assert (body["code"], body["total_records"]) == (200, 2)
        assert {row["customer_no"]: row for row in body["data"]}["S32649713"] == SUBSCRIBER
        filtered = await call(
            client, "subscriber", installer, action="list", fields=["customer_no"], filter={"binded": True}
        )
        assert filtered.json() == {"code": 200, "data": [{"customer_no": "S2"}], "total_records": 1}
        v2 = await call(client, "query", installer, page="database", table="subscriber", fields=["customer_no"])
        assert [row["customer_no"] for row in v2.json()["data"]] == ["S2", "S32649713"]
        page = await call(client, "query", installer, page="subscriber_data", fields=["customer_no"])
        assert page.json()["total_records"] == 2
        injected = await call(client, "subscriber", installer, action="list", filter={"customer_no": {"$ne": None}})
        assert injected.json()["code"] == 400
        viewer = await compat_login(client, "viewer")
        assert (await call(client, "subscriber", viewer, action="list")).status_code == 403


async def test_view_by_meter_id(store):
    await seed(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        found = await call(client, "subscriber", admin, action="view", meter_id="365478965162", fields=["customer_no"])
        assert found.json() == {"code": 200, "data": {"customer_no": "S32649713"}}
        missing = await call(client, "subscriber", admin, action="view", meter_id="nope")
        assert missing.json() == {"code": 200, "data": {}}


async def test_modify_and_delete_write_the_store(store):
    await seed(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        modified = await call(
            client,
            "subscriber",
            admin,
            action="modify",
            customer_no="S32649713",
            data={"customer_name": "이순신", "checked": True, "binded": True},
        )
        assert modified.json() == {"code": 200, "data": {"modified_count": 1}}
        absent = await call(client, "subscriber", admin, action="modify", customer_no="S3", data={"customer_name": "x"})
        assert absent.json() == {"code": 200, "data": {"modified_count": 0}}
        unknown = await call(client, "subscriber", admin, action="modify", customer_no="S2", data={"passwd": "x"})
        assert unknown.json()["code"] == 400
        deleted = await call(client, "subscriber", admin, action="delete", customer_no="S2")
        assert deleted.json() == {"code": 200, "data": {"deleted_count": 1}}
        other = await call(client, "subscriber", admin, action="delete", customer_no="S3")
        assert other.json() == {"code": 200, "data": {"deleted_count": 0}}
        installer = await compat_login(client, "installer")
        refused = await call(client, "subscriber", installer, action="delete", customer_no="S32649713")
        assert refused.status_code == 403
    subscriber = await store.get_subscriber(TENANT, "S32649713")
    assert (subscriber["customer_name"], subscriber["checked"], subscriber["binded"]) == ("이순신", True, False)
    assert await store.get_subscriber(TENANT, "S2") is None
    assert (await store.get_subscriber(OTHER, "S3"))["customer_name"] == "홍길동"


async def test_bind_binds_the_subscriber_and_copies_it_to_the_device(store):
    await seed(store)
    async with app_client(store) as client:
        installer = await compat_login(client, "installer")
        body = {"customer_no": "S32649713", "meter_id": "365478965162", "device_uid": "D4245A98"}
        response = await call(client, "subscriber", installer, action="bind", **body)
        assert response.json() == {"code": 200, "data": {"bind_date": "2025-12-18 12:00:00", "binded": True}}
        theirs = await call(client, "subscriber", installer, action="bind", **{**body, "device_uid": "A149490D"})
        assert theirs.status_code == 404
        missing = await call(client, "subscriber", installer, action="bind", customer_no="S32649713")
        assert missing.json()["code"] == 400
    subscriber = await store.get_subscriber(TENANT, "S32649713")
    assert (subscriber["bind_device_id"], subscriber["binded"]) == ("D4245A98", True)
    assert subscriber["bind_date"] == "2025-12-18 12:00:00"  # the local date-time, as the REST API's bind
    device = await store.get_device(TENANT, "D4245A98")
    assert (device["customer_no"], device["customer_name"], device["addr_city"]) == ("S32649713", "홍길동", "서울시")
    assert device["meter_id"] == "365478965162"


async def test_import_reports_imported_duplicated_and_failed_items(store):
    await seed(store)
    items = [
        {**SUBSCRIBER, "customer_no": "S45678901", "bind_device_id": None},
        {**SUBSCRIBER, "customer_no": "S45678901"},
        {**SUBSCRIBER},
        {"customer_name": "no number"},
        {"customer_no": "S5", "share_house": "O"},
        {"customer_no": "S6", "meter_id": "6", "share_house": "maybe"},
        {"customer_no": "S7", "meter_id": 7, "share_house": "X", "unknown": 1},
    ]
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "subscriber", admin, action="import", data=items)
        empty = await call(client, "subscriber", admin, action="import", data=[])
    assert empty.json() == {"code": 400, "message": "데이터베이스 이름과 가져올 데이터가 필요합니다."}
    record = {"customer_no": "S45678901", "customer_name": "홍길동", "subscriber_no": "1204321613"}
    assert response.json() == {
        "code": 200,
        "data": {
            "import_count": 1,
            "import_records": [record],
            "duplicated_count": 2,
            "duplicated_records": [
                {**record, "error": "중복된 고객 번호"},
                {**record, "customer_no": "S32649713", "error": "중복된 고객 번호"},
            ],
            "failed_count": 4,
            "failed_records": [
                {"error": "필수 필드 누락: customer_no"},
                {"customer_no": "S5", "error": "필수 필드 누락: meter_id"},
                {"customer_no": "S6", "error": "유효하지 않은 데이터 형식: share_house"},
                {"customer_no": "S7", "error": "unknown subscriber fields: unknown"},
            ],
        },
    }
    assert (await store.get_subscriber(TENANT, "S45678901"))["meter_id"] == "365478965162"
    assert await store.get_subscriber(TENANT, "S5") is None
