"""usage, data, event and the v2 usage_data and recv_data pages of the compatible endpoint (§5.3, §6.4,
§6.5)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from core.timeutil import calendar_fields
from tests.web.support import Clock, app_client
from tests.web.test_compat import OTHER, TENANT, call, compat_login, seed_devices

KST = timezone(timedelta(hours=9))
#: 2025-03-10 12:00 KST; the month starts 2025-03-01 00:00 KST (2025-02-28 15:00 UTC)
NOW = datetime(2025, 3, 10, 12, tzinfo=KST).timestamp()
MONTH_START = int(datetime(2025, 3, 1, tzinfo=KST).timestamp())
#: the device and subscriber of the §6.4 example answer
CUSTOMER = {
    "customer_name": "이순신",
    "customer_no": "S12547896",
    "addr_prov": "",
    "addr_city": "서울시",
    "addr_dist": "강남구",
    "addr_detail": "반도빌라204",
    "addr_apt": "반도빌라",
}


def reading(device_uid: str, timestamp: int, count: int) -> dict:
    return {"device_uid": device_uid, "timestamp": timestamp, "counter_val": count, **calendar_fields(timestamp, KST)}


async def seed_usage(store) -> None:
    await seed_devices(store)
    await store.update_device(
        TENANT, "D4245A98", {**CUSTOMER, "last_count": 2600, "last_access": "2025-03-10 09:00:00"}
    )
    await store.add_device(TENANT, {"device_uid": "E0000001", "flag": True, "last_count": None, "last_access": "soon"})
    await store.add_device(TENANT, {"device_uid": "E0000002", "flag": True, "last_count": 10, "meter_id": "m2"})
    await store.insert_readings(
        TENANT,
        [
            reading("D4245A98", MONTH_START - 3600, 2500),
            reading("D4245A98", MONTH_START, 2543),
            # after the month start in KST, before it in UTC: a month counted in UTC would start here
            reading("D4245A98", MONTH_START + 3600, 2560),
            reading("D4245A98", MONTH_START + 10 * 3600, 2580),
            reading("E0000001", MONTH_START - 7200, 77),
            reading("E0000002", MONTH_START - 60, 20),
            reading("A149490D", MONTH_START - 60, 1),
        ],
    )
    await store.insert_readings(OTHER, [reading("B0000001", MONTH_START - 60, 5)])


async def test_usage_is_month_to_date_in_the_configured_time_zone(store):
    await seed_usage(store)
    async with app_client(store, clock=Clock(NOW)) as client:
        viewer = await compat_login(client, "viewer")
        response = await call(client, "usage", viewer, action="list")
        via_query = await call(client, "query", viewer, page="usage_info")
    body = response.json()
    assert (body["code"], body["total_records"]) == (200, 3)
    rows = {row["device_uid"]: row for row in body["data"]}
    assert rows["D4245A98"] == {
        "device_uid": "D4245A98",
        **CUSTOMER,
        "meter_id": "202465478965",
        "prev_count": 2543,
        "current_count": 2600,
        "read_date": "2025-03-10",
        "usage": 57,
    }
    assert "cost" not in rows["D4245A98"]
    # no subscriber data, no count, a last_access in no known format: listed, not a crash
    assert rows["E0000001"] == {
        "device_uid": "E0000001",
        **dict.fromkeys(CUSTOMER, ""),
        "meter_id": "",
        "prev_count": 77,
        "current_count": 0,
        "read_date": "-",
        "usage": 0,
    }
    # a count below the baseline (a re-initialised meter) is no negative usage
    assert (rows["E0000002"]["prev_count"], rows["E0000002"]["current_count"], rows["E0000002"]["usage"]) == (20, 10, 0)
    assert via_query.json() == body


async def test_an_installer_s_usage_covers_its_own_devices(store):
    await seed_usage(store)
    await store.update_device(TENANT, "A149490D", {"flag": True})
    async with app_client(store, clock=Clock(NOW)) as client:
        installer = await compat_login(client, "installer")
        response = await call(client, "usage", installer, action="list")
        other = await call(client, "usage", installer, action="stats")
    assert [row["device_uid"] for row in response.json()["data"]] == ["D4245A98"]
    assert other.json() == {"code": 400, "message": "지원하지 않는 액션: stats"}


async def test_v2_usage_data_answers_the_raw_counts_of_a_device(store):
    """The §5.3 example request: one KST day of hourly counts, as epoch seconds."""
    await seed_devices(store)
    day = int(datetime(2025, 3, 6, tzinfo=KST).timestamp())
    assert day == 1741186800
    await store.insert_readings(TENANT, [reading("D4245A98", day + hour * 3600, 1200 + hour) for hour in range(-1, 25)])
    body = {"page": "usage_data", "device_uid": "D4245A98", "fields": ["timestamp", "counter_val"]}
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "query", admin, **body, daterange=[1741186800, 1741273200])
        strings = await call(client, "query", admin, **body, daterange=["2025-03-06", "2025-03-07"])
        installer = await compat_login(client, "installer")
        theirs = await call(client, "query", installer, **{**body, "device_uid": "A149490D"})
    answer = response.json()
    assert set(answer) == {"data", "elaspec_time", "code", "total_records", "elasped_time"}
    assert (answer["code"], answer["elaspec_time"], answer["total_records"]) == (200, 0, 24)
    assert answer["data"][1] == {
        "timestamp": 1741190400,
        "counter_val": 1201,
        "device_uid": "D4245A98",
        "year": 2025,
        "month": 3,
        "day": 6,
        "hour": 1,
        "wday": 4,
        "week": 10,
    }
    assert [row["timestamp"] for row in answer["data"]] == [day + hour * 3600 for hour in range(24)]
    assert strings.json()["code"] == 400
    assert theirs.json()["data"] == []


async def test_data_list_pages_the_readings_of_the_devices_one_may_read(store):
    await seed_usage(store)
    async with app_client(store, clock=Clock(NOW)) as client:
        admin = await compat_login(client, "admin")
        response = await call(
            client,
            "data",
            admin,
            action="list",
            device_uids=["D4245A98", "E0000002"],
            start_date="2025-03-01",
            end_date="2025-03-01",
            page=2,
            page_size=2,
            fields=["device_uid", "counter_val"],
        )
        everything = await call(client, "data", admin, action="list")
        installer = await compat_login(client, "installer")
        own = await call(client, "data", installer, action="list", device_uids=["A149490D", "D4245A98"], page_size=100)
        theirs = await call(client, "data", installer, action="list", device_uids=["A149490D"])
    assert response.json() == {
        "code": 200,
        "data": [{"device_uid": "D4245A98", "counter_val": 2580}],
        "total_records": 3,
        "page": 2,
        "page_size": 2,
        "total_pages": 2,
    }
    assert (everything.json()["total_records"], everything.json()["page"], everything.json()["page_size"]) == (7, 1, 10)
    assert {row["device_uid"] for row in own.json()["data"]} == {"D4245A98"}
    assert theirs.json()["total_records"] == 0


async def seed_events(store) -> None:
    await seed_devices(store)
    for number, (uid, kind, status) in enumerate(
        [
            ("D4245A98", "low_battery", "active"),
            ("D4245A98", "tamper_detected", "resolved"),
            ("A149490D", "low_battery", "active"),
        ]
    ):
        await store.add_event(
            TENANT,
            {
                "event_id": f"E{number}",
                "device_uid": uid,
                "event_time": MONTH_START + number * 60,
                "event_code": 1,
                "event_type": kind,
                "event_level": "warning",
                "event_status": status,
                "event_message": "배터리 부족",
            },
        )
    await store.add_event(
        OTHER, {"event_id": "E9", "device_uid": "B0000001", "event_time": MONTH_START, "event_type": "x"}
    )


async def test_events_are_listed_newest_first_and_paged(store):
    await seed_events(store)
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        response = await call(client, "event", viewer, action="list", page=1, page_size=2)
        filtered = await call(
            client,
            "event",
            viewer,
            action="list",
            filter={"event_type": "low_battery"},
            fields=["event_id", "event_time"],
        )
        via_query = await call(client, "query", viewer, page="event_data", fields=["event_id"])
        installer = await compat_login(client, "installer")
        own = await call(client, "event", installer, action="list", fields=["event_id"])
        injected = await call(client, "event", viewer, action="list", filter={"event_type": {"$regex": "."}})
    body = response.json()
    assert (body["code"], body["total_records"], body["page"], body["page_size"], body["total_pages"]) == (
        200,
        3,
        1,
        2,
        2,
    )
    assert body["data"][0] == {
        "event_id": "E2",
        "device_uid": "A149490D",
        "event_time": "2025-03-01 00:02:00",
        "event_code": 1,
        "event_type": "low_battery",
        "event_level": "warning",
        "event_status": "active",
        "event_message": "배터리 부족",
    }
    assert filtered.json()["data"] == [
        {"event_id": "E2", "event_time": "2025-03-01 00:02:00"},
        {"event_id": "E0", "event_time": "2025-03-01 00:00:00"},
    ]
    assert (via_query.json()["page"], via_query.json()["total_records"]) == (1, 3)
    assert own.json()["data"] == [{"event_id": "E1"}, {"event_id": "E0"}]
    assert injected.json()["code"] == 400


async def test_event_view(store):
    await seed_events(store)
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        found = await call(client, "event", viewer, action="view", event_id="E1", fields=["event_type", "event_status"])
        other = await call(client, "event", viewer, action="view", event_id="E9")
        installer = await compat_login(client, "installer")
        theirs = await call(client, "event", installer, action="view", event_id="E2")
        missing = await call(client, "event", viewer, action="view")
    assert found.json() == {"code": 200, "data": {"event_type": "tamper_detected", "event_status": "resolved"}}
    assert other.json() == {"code": 200, "data": None}
    assert theirs.json() == {"code": 200, "data": None}
    assert missing.json() == {"code": 400, "message": "데이터베이스 이름과 이벤트 ID가 필요합니다."}


async def test_v2_recv_data_answers_the_tenant_s_packets_only(store):
    await seed_devices(store)
    common = {"ip": "203.0.113.7", "port": 5004, "recv_len": 256, "send_len": 32, "device_type": "meter"}
    await store.log_exchange(
        {
            **common,
            "datetime": "2025-03-06 10:00:01",
            "at": 1741222801.0,
            "recv": b"\xa0D4245A98",
            "send": b"\xc0\xff",
            "device_uid": "D4245A98",
            "tenant": TENANT,
        }
    )
    await store.log_exchange(
        {
            **common,
            "datetime": "2025-03-06 11:00:00",
            "at": 1741226400.0,
            "recv": b"\xa0B0000001",
            "send": b"\xc0",
            "device_uid": "B0000001",
            "tenant": OTHER,
        }
    )
    await store.log_exchange(
        {**common, "datetime": "2025-03-06 12:00:00", "at": 1741230000.0, "recv": b"test hello", "send": b"?"}
    )
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "query", admin, page="recv_data", daterange=["2025-03-06", "2025-03-06 23:59:59"])
        outside = await call(client, "query", admin, page="recv_data", daterange=["2025-03-07", "2025-03-08"])
        installer = await compat_login(client, "installer")
        refused = await call(client, "query", installer, page="recv_data")
    body = response.json()
    assert set(body) == {"data", "elaspe_time", "code", "total_record"}
    assert (body["code"], body["total_record"]) == (200, 1)
    assert body["data"] == [
        {
            "datetime": "2025-03-06 10:00:01",
            "recv": "a04434323435413938",
            "data": None,
            "ip": "203.0.113.7",
            "port": 5004,
            "recv_len": 256,
            "send_len": 32,
            "send": "c0ff",
            "device_uid": "D4245A98",
        }
    ]
    assert outside.json()["data"] == []
    assert refused.status_code == 403
