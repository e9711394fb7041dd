"""What devices reported, through the API: readings, usage, events, exchanges, dead letters, measurements;
each limited to the caller's tenant and, for an installer, to its own devices."""

from __future__ import annotations

import struct
from decimal import Decimal

from core.http import encode_cursor
from core.timeutil import calendar_fields, tz_from_offset
from tests.web.support import T0, add_user, app_client, bearer, login

A, B = "acme", "other"
KST = tz_from_offset(32400)
#: 2025-12-18 00:00:00 +09:00
DAY = int(T0) - 12 * 3600
MINE, THEIRS, ELSEWHERE = "AAAA0001", "AAAA0002", "BBBB0001"


async def seed(store) -> None:
    await add_user(store, A, "ada", "admin")
    await add_user(store, A, "otto", "operator")
    await add_user(store, A, "ina", "installer")
    await add_user(store, A, "vic", "viewer")
    await add_user(store, A, "root", "admin", system_admin=True)
    await add_user(store, B, "bob", "admin")
    await store.add_device(A, {"device_uid": MINE, "installer_id": "ina", "flag": True})
    await store.add_device(A, {"device_uid": THEIRS, "installer_id": "inb", "flag": True})
    await store.add_device(B, {"device_uid": ELSEWHERE, "installer_id": "bob", "flag": True})


async def tokens(client, *logins: str) -> dict[str, dict[str, str]]:
    """Bearer headers of each login; the cookie is dropped after each, or the next login would end it."""
    headers = {}
    for name in logins:
        headers[name] = bearer(await login(client, name))
        client.cookies.clear()
    return headers


def reading(uid: str, ts: int, count: int) -> dict:
    return {"device_uid": uid, "timestamp": ts, "counter_val": count, **calendar_fields(ts, KST)}


#: a baseline the evening before, then 01:00..05:00 with a counter reset at 04:00
COUNTS = [(DAY - 3600, 90), (DAY + 3600, 100), (DAY + 7200, 110), (DAY + 10800, 125), (DAY + 14400, 5)]
COUNTS.append((DAY + 18000, 20))


async def add_readings(store) -> None:
    await store.insert_readings(A, [reading(MINE, ts, count) for ts, count in COUNTS])
    await store.insert_readings(A, [reading(THEIRS, DAY + 3600, 1)])
    await store.insert_readings(B, [reading(ELSEWHERE, DAY + 3600, 1)])


async def test_readings_of_a_device(store):
    await seed(store)
    await add_readings(store)
    async with app_client(store) as client:
        h = await tokens(client, "vic", "ina", "bob")
        response = await client.get(f"/api/v1/devices/{MINE}/readings?from=2025-12-18&to=2025-12-19", headers=h["vic"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 5 and body["next"] is None
        assert body["items"][0] == {"timestamp": DAY + 3600, "at": "2025-12-18T01:00:00+09:00", "count": 100}
        assert [item["count"] for item in body["items"]] == [100, 110, 125, 5, 20]

        first = (await client.get(f"/api/v1/devices/{MINE}/readings?limit=4", headers=h["vic"])).json()
        assert [item["count"] for item in first["items"]] == [90, 100, 110, 125] and first["total"] == 6
        rest = await client.get(f"/api/v1/devices/{MINE}/readings?limit=4&cursor={first['next']}", headers=h["vic"])
        assert [item["count"] for item in rest.json()["items"]] == [5, 20] and rest.json()["next"] is None
        newest = await client.get(f"/api/v1/devices/{MINE}/readings?sort=-timestamp&limit=1", headers=h["vic"])
        assert newest.json()["items"][0]["count"] == 20

        assert (await client.get(f"/api/v1/devices/{MINE}/readings", headers=h["ina"])).status_code == 200
        assert (await client.get(f"/api/v1/devices/{THEIRS}/readings", headers=h["ina"])).status_code == 404
        assert (await client.get(f"/api/v1/devices/{MINE}/readings", headers=h["bob"])).status_code == 404
        mixed = await client.get(f"/api/v1/devices/{MINE}/readings?from=2025-12-19&to=2025-12-18", headers=h["vic"])
        assert mixed.status_code == 400


async def test_usage_per_bucket_flags_a_counter_reset(store):
    await seed(store)
    await add_readings(store)
    async with app_client(store) as client:
        h = await tokens(client, "vic", "bob")
        day = await client.get(
            f"/api/v1/devices/{MINE}/usage?bucket=day&from=2025-12-18&to=2025-12-19", headers=h["vic"]
        )
        assert day.status_code == 200, day.text
        body = day.json()
        assert (body["from"], body["to"], body["total_usage"]) == (
            "2025-12-18T00:00:00+09:00",
            "2025-12-19T00:00:00+09:00",
            50,
        )
        [item] = body["items"]
        assert (item["label"], item["start"], item["usage"], item["reset"]) == (
            "2025-12-18",
            "2025-12-18T00:00:00+09:00",
            50,
            True,
        )

        # a range inside buckets is widened to whole ones
        hours = await client.get(
            f"/api/v1/devices/{MINE}/usage?bucket=hour&from={DAY + 1800}&to={DAY + 5 * 3600 + 60}", headers=h["vic"]
        )
        items = hours.json()["items"]
        assert hours.json()["from"] == "2025-12-18T00:00:00+09:00" and hours.json()["to"] == "2025-12-18T06:00:00+09:00"
        assert [(i["label"], i["usage"], i.get("reset", False)) for i in items] == [
            ("2025-12-18 01:00", 10, False),
            ("2025-12-18 02:00", 10, False),
            ("2025-12-18 03:00", 15, False),
            ("2025-12-18 04:00", 0, True),
            ("2025-12-18 05:00", 15, False),
        ]

        too_long = await client.get(
            f"/api/v1/devices/{MINE}/usage?bucket=hour&from=2020-01-01&to=2025-01-01", headers=h["vic"]
        )
        assert too_long.status_code == 400 and "10000" in too_long.json()["message"]
        ok_long = await client.get(
            f"/api/v1/devices/{MINE}/usage?bucket=month&from=2020-01-01&to=2025-01-01", headers=h["vic"]
        )
        assert ok_long.status_code == 200
        assert (await client.get(f"/api/v1/devices/{MINE}/usage?bucket=fortnight", headers=h["vic"])).status_code == 400
        assert (await client.get(f"/api/v1/devices/{MINE}/usage", headers=h["bob"])).status_code == 404


async def add_events(store) -> None:
    for uid, at, kind, status in (
        (MINE, DAY + 100, "tamper_detected", "active"),
        (MINE, DAY + 200, "rotation_speed_violation", "closed"),
        (THEIRS, DAY + 300, "tamper_detected", "active"),
    ):
        await store.add_event(A, {"device_uid": uid, "event_time": at, "event_type": kind, "event_status": status})
    await store.add_event(B, {"device_uid": ELSEWHERE, "event_time": DAY, "event_type": "tamper_detected"})


def events_of(response) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.text
    return [(item["device_uid"], item["event_time"]) for item in response.json()["items"]]


async def test_events_per_device_and_of_the_tenant(store):
    await seed(store)
    await add_events(store)
    async with app_client(store) as client:
        h = await tokens(client, "vic", "ina", "bob")
        mine = await client.get(f"/api/v1/devices/{MINE}/events", headers=h["vic"])
        assert events_of(mine) == [(MINE, DAY + 100), (MINE, DAY + 200)]
        assert mine.json()["items"][0]["at"] == "2025-12-18T00:01:40+09:00"
        tampers = await client.get(f"/api/v1/devices/{MINE}/events?event_type=tamper_detected", headers=h["vic"])
        assert events_of(tampers) == [(MINE, DAY + 100)]
        assert events_of(await client.get("/api/v1/events", headers=h["vic"])) == [
            (MINE, DAY + 100),
            (MINE, DAY + 200),
            (THEIRS, DAY + 300),
        ]
        closed = await client.get("/api/v1/events?event_status=closed", headers=h["vic"])
        assert events_of(closed) == [(MINE, DAY + 200)]
        window = await client.get(f"/api/v1/events?from={DAY + 150}&to={DAY + 300}&sort=-event_time", headers=h["vic"])
        assert events_of(window) == [(MINE, DAY + 200)]

        # an installer: only its own devices' events, whatever it asks
        assert events_of(await client.get("/api/v1/events", headers=h["ina"])) == [(MINE, DAY + 100), (MINE, DAY + 200)]
        assert events_of(await client.get(f"/api/v1/events?device_uid={THEIRS}", headers=h["ina"])) == []
        assert (await client.get(f"/api/v1/devices/{THEIRS}/events", headers=h["ina"])).status_code == 404

        assert events_of(await client.get("/api/v1/events", headers=h["bob"])) == [(ELSEWHERE, DAY)]
        assert (await client.get(f"/api/v1/devices/{MINE}/events", headers=h["bob"])).status_code == 404


async def test_an_installer_with_many_devices_gets_its_events_merged_in_order(store):
    await seed(store)
    many = [f"CC{i:06d}" for i in range(150)]
    for uid in many:
        await store.add_device(A, {"device_uid": uid, "installer_id": "inc", "flag": True})
    await add_user(store, A, "inc", "installer")
    for uid, at in ((many[149], DAY + 30), (many[0], DAY + 10), (many[120], DAY + 20), (MINE, DAY + 15)):
        await store.add_event(A, {"device_uid": uid, "event_time": at, "event_type": "tamper_detected"})
    async with app_client(store) as client:
        h = (await tokens(client, "inc"))["inc"]
        first = await client.get("/api/v1/events?limit=2", headers=h)
        assert events_of(first) == [(many[0], DAY + 10), (many[120], DAY + 20)] and first.json()["total"] == 3
        second = await client.get(f"/api/v1/events?limit=2&cursor={first.json()['next']}", headers=h)
        assert events_of(second) == [(many[149], DAY + 30)] and second.json()["next"] is None
        newest = await client.get("/api/v1/events?sort=-event_time&limit=1", headers=h)
        assert events_of(newest) == [(many[149], DAY + 30)]
        far = await client.get(f"/api/v1/events?cursor={encode_cursor(1000)}", headers=h)
        assert far.status_code == 400 and "narrow" in far.json()["message"]


def report_frame(uid: str, ts: int, count: int) -> bytes:
    """A 256-byte normal report, laid out by hand."""
    table = struct.pack(">II", ts, count) + b"\0" * 8 * 23
    return struct.pack(">B8s", 0xA0, uid.encode()) + table + struct.pack(">BIBH", 87, 3600, 0, 0) + b"\xff" * 47


async def add_exchanges(store) -> dict[str, bytes]:
    frames = {"mine": report_frame(MINE, DAY, 500), "theirs": report_frame(ELSEWHERE, DAY, 7)}
    frames["short"] = frames["mine"][:40]
    common = {"ip": "203.0.113.7", "port": 5004, "datetime": "2025-12-18 00:00:00", "device_type": "gas_meter"}
    for n, (name, extra) in enumerate(
        (
            ("mine", {"device_uid": MINE, "tenant": A}),
            ("theirs", {"device_uid": ELSEWHERE, "tenant": B}),
            ("junk", {}),
            ("short", {"device_uid": MINE, "tenant": A}),
        )
    ):
        received = frames.get(name, b"hello\r\n")
        entry = {**common, "recv": received, "recv_len": len(received), "send": b"\xc0\x01", "send_len": 2}
        await store.log_exchange({**entry, "at": DAY + n, **extra})
    return frames


def recvs(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["recv"] for item in response.json()["items"]]


async def test_exchanges_are_the_tenants_own_as_hex_and_decoded(store):
    await seed(store)
    frames = await add_exchanges(store)
    mine, theirs, short, junk = frames["mine"].hex(), frames["theirs"].hex(), frames["short"].hex(), b"hello\r\n".hex()
    async with app_client(store) as client:
        h = await tokens(client, "ada", "otto", "ina", "root", "bob")
        response = await client.get("/api/v1/exchanges", headers=h["ada"])
        assert recvs(response) == [short, mine]  # newest first, the tenant's only
        broken, decoded = response.json()["items"]
        assert decoded["send"] == "c001" and decoded["tenant"] == A and decoded["device_uid"] == MINE
        assert decoded["decoded"]["message"] == "report"
        assert decoded["decoded"]["values"]["uid"] == MINE
        assert decoded["decoded"]["values"]["counts"][0] == {"ts": DAY, "count": 500}
        assert broken["decoded"] is None and "short" in broken["decode_error"]

        assert recvs(await client.get("/api/v1/exchanges", headers=h["otto"])) == [short, mine]
        assert (await client.get("/api/v1/exchanges", headers=h["ina"])).status_code == 403
        assert recvs(await client.get("/api/v1/exchanges", headers=h["bob"])) == [theirs]
        for asked in ("tenant=other", "tenant=acme", "unattributed=true"):
            refused = await client.get(f"/api/v1/exchanges?{asked}", headers=h["ada"])
            assert refused.status_code == 403, asked

        assert recvs(await client.get("/api/v1/exchanges", headers=h["root"])) == [short, junk, theirs, mine]
        assert recvs(await client.get("/api/v1/exchanges?tenant=other", headers=h["root"])) == [theirs]
        lone = await client.get("/api/v1/exchanges?unattributed=true", headers=h["root"])
        assert recvs(lone) == [junk] and lone.json()["items"][0]["decoded"] is None
        by_device = await client.get(f"/api/v1/exchanges?device_uid={MINE}&sort=at", headers=h["root"])
        assert recvs(by_device) == [mine, short]
        window = await client.get(f"/api/v1/exchanges?from={DAY + 1}&to={DAY + 3}", headers=h["root"])
        assert recvs(window) == [junk, theirs]

        first = await client.get("/api/v1/exchanges?limit=1", headers=h["ada"])
        assert recvs(first) == [short] and first.json()["total"] == 2
        second = await client.get(f"/api/v1/exchanges?limit=1&cursor={first.json()['next']}", headers=h["ada"])
        assert recvs(second) == [mine] and second.json()["next"] is None


async def test_dead_letters_are_for_system_administrators(store):
    await seed(store)
    await store.add_dead_letter(
        {"device_type": "gas_meter", "ip": "198.51.100.4", "port": 5004, "at": DAY, "data": b"\x00\xff", "error": "x"}
    )
    await store.add_dead_letter(
        {"device_type": "other", "ip": "198.51.100.5", "at": DAY + 1, "data": b"z", "path": "p"}
    )
    async with app_client(store) as client:
        h = await tokens(client, "root", "ada")
        response = await client.get("/api/v1/dead-letters", headers=h["root"])
        assert response.status_code == 200, response.text
        assert [(i["data"], i["device_type"]) for i in response.json()["items"]] == [
            ("7a", "other"),
            ("00ff", "gas_meter"),
        ]
        assert response.json()["items"][1]["error"] == "x"
        only = await client.get("/api/v1/dead-letters?device_type=gas_meter", headers=h["root"])
        assert [i["data"] for i in only.json()["items"]] == ["00ff"]
        assert (await client.get("/api/v1/dead-letters", headers=h["ada"])).status_code == 403


async def test_measurements_are_the_tenants_own(store):
    await seed(store)
    await store.record_measurements(
        [
            {"device_type": "scale", "device_id": "S1", "at": DAY, "values": {"w": Decimal("1.50")}, "tenant": A},
            {"device_type": "probe", "device_id": MINE, "at": DAY + 1, "values": {"t": 20}, "tenant": A},
            {"device_type": "scale", "device_id": "S2", "at": DAY + 2, "values": {"w": 2}, "tenant": B},
            {"device_type": "scale", "device_id": "S3", "at": DAY + 3, "values": {"w": 3}},
        ]
    )
    async with app_client(store) as client:
        h = await tokens(client, "vic", "ina", "bob")
        response = await client.get("/api/v1/measurements", headers=h["vic"])
        assert response.status_code == 200, response.text
        assert [i["device_id"] for i in response.json()["items"]] == [MINE, "S1"]
        scales = await client.get("/api/v1/measurements?device_type=scale", headers=h["vic"])
        assert scales.json()["items"] == [
            {"device_type": "scale", "device_id": "S1", "at": DAY, "values": {"w": 1.50}, "tenant": A}
        ]
        assert '"w":1.50' in scales.text  # the decimal exactly
        assert [
            i["device_id"] for i in (await client.get("/api/v1/measurements", headers=h["ina"])).json()["items"]
        ] == [MINE]
        assert [
            i["device_id"] for i in (await client.get("/api/v1/measurements", headers=h["bob"])).json()["items"]
        ] == ["S2"]
