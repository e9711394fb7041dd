"""The Store contract: every backend passes exactly these tests (``store`` is parametrised in tests/conftest.py).

Conventions the backends must share, beyond the docstrings of ``core.store.base``:

* documents come back equal to what was written (no ``_id``, no internal keys), ints as int, ``flag`` as
  bool, bytes as bytes, ``Decimal`` as ``Decimal`` with the same digits;
* readings are exactly ``{device_uid, timestamp, counter_val}`` plus the optional calendar fields
  ``year, month, day, hour, wday, week`` (all ``int``); any other key, or a non-int value, is ``InvalidInput``;
* writing to a tenant (``add_device``) registers it for :meth:`list_tenants`;
* ``revoke_user_sessions`` counts sessions it revoked now (a second call returns 0);
* ``browse`` refuses a db/collection that ``list_collections`` does not list with ``NotFound`` (a non-string
  name is ``InvalidInput``);
* every listing filters (``filters`` and ``any_of``), ranges, sorts and searches on exactly the fields its
  entry in ``core.store.listings.LISTINGS`` declares (``test_every_listing_*`` runs each of them on each
  backend) and refuses any other with ``InvalidInput``;
* a listing without ``sort`` uses the listing's default field, descending when that default is descending
  (exchanges, dead letters, measurements) or ``descending=True`` was asked;
* ``list_collections`` names tenants exactly as the API does (``gas_demo``), whatever the physical name;
* a closed store raises ``StoreUnavailable``; ``close`` may be called twice;
* bad input raises ``InvalidInput`` before anything is written (see ``test_bad_*``).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from core.errors import Conflict, InvalidInput, NotFound, StoreError, StoreUnavailable
from core.store import ListQuery, Page, ReadingRows, Report, open_store
from core.store.listings import LISTINGS
from core.timeutil import calendar_fields, calendar_values, tz_from_offset

KST = tz_from_offset("+09:00")
T = "gas_demo"
T2 = "gas_other"
COMMON_COLLECTIONS = {
    "device_route",
    "user_route",
    "floating_users",
    "misc_data",
    "dead_letter",
    "scale_latest",
    "scale_weight_log",
    "sessions",
    "measurement",
    "api_tokens",
    "login_failures",
}
TENANT_COLLECTIONS = {"users", "device", "data", "subscriber", "event"}
BASE_TS = 1741186800  # 2025-03-06 00:00:00 +09:00 (a Thursday, ISO week 10)


def reading(uid: str, ts: int, count: int) -> dict:
    return {"device_uid": uid, "timestamp": ts, "counter_val": count, **calendar_fields(ts, KST)}


def reading_row(ts: int, count: int) -> tuple[int, ...]:
    return (ts, count, *calendar_values(ts, KST))


def device(uid: str, **fields) -> dict:
    doc = {
        "device_uid": uid,
        "meter_id": "3654789651" + uid[-2:],
        "installer_id": "installer1",
        "flag": True,
        "customer_no": "S" + uid,
        "status": 0,
        "ref_interval": 43200,
        "minimum": 10,
        "maximum": 900,
        "server_ip": "10.0.0.1",
        "server_port": 5004,
        "initial_count": 0,
        "last_timestamp": BASE_TS,
        "last_access": "2025-03-06 00:00:00",
    }
    doc.update(fields)
    return doc


def exchange(
    at: float, ip: str = "10.1.1.1", device_type: str = "gas_meter", recv: bytes = b"\xa0" + bytes(255)
) -> dict:
    return {
        "ip": ip,
        "port": 5004,
        "datetime": "2025-03-06 09:00:00",
        "recv": recv,
        "recv_len": len(recv),
        "send": b"\x00\xff" * 16,
        "send_len": 32,
        "at": at,
        "device_type": device_type,
    }


def weighing(cylinder: str, event_type: str, committed_at: float, gross: str = "61.250", scale_id: str = "S1") -> dict:
    return {
        "scale_id": scale_id,
        "cylinder_no": cylinder,
        "event_type": event_type,
        "gross_kg": Decimal(gross),
        "raw_line": f"ST,GS,+00{gross}kg",
        "received_at": committed_at - 0.5,
        "committed_at": committed_at,
        "arrival_shipping_no": "A100",
        "move_report_no": "M200",
    }


def session_doc(token: str, login_id: str, expires_at: float) -> dict:
    return {
        "token_hash": token,
        "login_id": login_id,
        "tenant": T,
        "role": "admin",
        "created_at": expires_at - 3600.0,
        "expires_at": expires_at,
    }


def api_token(token_id: str, **fields) -> dict:
    return {
        "token_id": token_id,
        "token_hash": "hash-" + token_id,
        "tenant": T,
        "name": "deploy bot",
        "scopes": ["devices:read", "readings:read"],
        "created_by": "alice",
        "created_at": 1741219200.0,
        "expires_at": None,
        **fields,
    }


def subset(item: dict, expected: dict) -> dict:
    return {key: item.get(key, "<missing>") for key in expected}


# ---------------------------------------------------------------------------- lifecycle, tenants, routing
async def test_ping_and_open_is_idempotent(store):
    await store.ping()
    await store.open()
    await store.ping()
    assert store.backend in ("sqlite", "mongodb")


async def test_closed_store_is_unavailable_and_close_is_idempotent(store):
    await store.add_device(T, device("0000AB01"))
    await store.close()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.get_device(T, "0000AB01")
    with pytest.raises(StoreUnavailable):
        await store.insert_readings(T, [reading("0000AB01", BASE_TS, 1)])
    with pytest.raises(StoreUnavailable):
        await store.ping()


async def test_async_with_opens_and_closes_even_on_error(backend_url):
    url, options = backend_url
    async with open_store(url, **options) as store:
        await store.ping()
        await store.add_tenant(T)
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(RuntimeError, match="leaves the block"):
        async with open_store(url, **options) as again:
            assert await again.list_tenants() == [T]
            raise RuntimeError("leaves the block")
    with pytest.raises(StoreUnavailable):
        await again.ping()


async def test_tenants(store):
    await store.add_tenant("gas_b")
    await store.add_tenant("gas_a")
    await store.add_tenant("gas_b")
    assert await store.list_tenants() == ["gas_a", "gas_b"]
    await store.add_device("gas_c", device("0000AB01"))
    assert await store.list_tenants() == ["gas_a", "gas_b", "gas_c"]


async def test_device_route(store):
    assert await store.get_device_route("0000AB01") is None
    await store.set_device_route("0000AB01", T)
    assert await store.get_device_route("0000AB01") == T
    await store.set_device_route("0000AB01", T2)
    assert await store.get_device_route("0000AB01") == T2
    await store.set_device_route("0000AB02", "none")
    assert await store.get_device_route("0000AB02") == "none"
    assert await store.get_device_route("0000AB03") is None


async def test_routed_device_is_the_route_then_the_device_in_one_call(store):
    assert await store.get_routed_device("0000AB01") == (None, None)
    doc = device("0000AB01")
    await store.add_device(T, doc)
    tenant, got = await store.get_routed_device("0000AB01")
    assert (
        (tenant, got) == (T, doc) == (await store.get_device_route("0000AB01"), await store.get_device(T, "0000AB01"))
    )
    assert got is not None and type(got["flag"]) is bool and type(got["ref_interval"]) is int
    await store.set_device_route("0000AB01", T2)  # routed to a tenant without the device
    assert await store.get_routed_device("0000AB01") == (T2, None)
    await store.set_device_route("0000AB01", T)
    await store.update_device(T, "0000AB01", {"flag": False, "battery": 7})
    assert await store.get_routed_device("0000AB01") == (T, device("0000AB01", flag=False, battery=7))
    await store.delete_device(T, "0000AB01")
    assert await store.get_routed_device("0000AB01") == (None, None)


# ---------------------------------------------------------------------------- devices
async def test_device_add_get_types_and_route(store):
    doc = device("0000AB01")
    await store.add_device(T, doc)
    got = await store.get_device(T, "0000AB01")
    assert got == doc
    assert type(got["flag"]) is bool and type(got["ref_interval"]) is int and type(got["server_port"]) is int
    assert await store.get_device_route("0000AB01") == T
    assert await store.get_device(T, "0000AB99") is None
    assert await store.get_device(T2, "0000AB01") is None
    with pytest.raises(Conflict):
        await store.add_device(T, device("0000AB01", meter_id="other"))
    assert (await store.get_device(T, "0000AB01"))["meter_id"] == doc["meter_id"]


async def test_device_fields_are_set_whole_whatever_they_replace(store):
    """A device update and a report set each field as given: an object replaces an object whole (never
    merged into it), None is kept as None, a plain value replaces an object, and the other fields stay."""
    await store.add_device(T, device("0000AB01", extra={"a": 1, "b": 2}, note="x", level=3))
    await store.record_report(T, "0000AB01", {"extra": {"c": 3}, "note": None}, [])
    got = await store.get_device(T, "0000AB01")
    assert got["extra"] == {"c": 3} and "note" in got and got["note"] is None and got["level"] == 3
    fields = {"extra": "flat", "note": 'ü ☃ "quoted"', "ratio": 0.25, "flag": False, "big": 2**62}
    assert await store.update_device(T, "0000AB01", fields) is True
    assert await store.get_device(T, "0000AB01") == device("0000AB01", level=3, **fields)
    await store.record_report(T, "0000AB01", {"battery": 77, "when": Decimal("1.50")}, [])
    got = await store.get_device(T, "0000AB01")
    assert got["battery"] == 77 and got["when"] == Decimal("1.50") and got["extra"] == "flat"
    assert await store.record_report(T, "0000AB99", {"battery": 1}, []) == 0
    assert await store.get_device(T, "0000AB99") is None


async def test_device_update_and_delete(store):
    await store.add_device(T, device("0000AB01"))
    assert await store.update_device(T, "0000AB01", {"flag": False, "battery": 87, "last_count": 1234}) is True
    got = await store.get_device(T, "0000AB01")
    assert got == device("0000AB01", flag=False, battery=87, last_count=1234)
    assert got["flag"] is False and type(got["battery"]) is int
    assert await store.update_device(T, "0000AB99", {"battery": 1}) is False
    assert await store.get_device(T, "0000AB99") is None
    assert await store.delete_device(T, "0000AB01") is True
    assert await store.get_device(T, "0000AB01") is None
    assert await store.get_device_route("0000AB01") is None
    assert await store.delete_device(T, "0000AB01") is False


async def test_list_devices_filters_sort_paging_totals(store):
    uids = [f"0000AB0{i}" for i in range(1, 6)]
    for i, uid in enumerate(uids):
        await store.add_device(
            T,
            device(
                uid,
                flag=i % 2 == 0,
                status=i % 3,
                installer_id=f"inst{i % 2}",
                last_timestamp=BASE_TS + 100 * (5 - i),
                last_access=f"2025-03-0{i + 1} 00:00:00",
            ),
        )
    await store.add_device(T2, device("0000CD01"))

    page = await store.list_devices(T, ListQuery())
    assert isinstance(page, Page) and page.total == 5 and sorted(d["device_uid"] for d in page.items) == uids

    page = await store.list_devices(T, ListQuery(filters={"flag": True}, sort="device_uid"))
    assert [d["device_uid"] for d in page.items] == [uids[0], uids[2], uids[4]] and page.total == 3
    page = await store.list_devices(T, ListQuery(filters={"flag": False}, sort="device_uid"))
    assert [d["device_uid"] for d in page.items] == [uids[1], uids[3]]
    page = await store.list_devices(T, ListQuery(filters={"status": 1}, sort="device_uid"))
    assert [d["device_uid"] for d in page.items] == [uids[1], uids[4]]
    page = await store.list_devices(T, ListQuery(filters={"installer_id": "inst1", "flag": False}, sort="device_uid"))
    assert [d["device_uid"] for d in page.items] == [uids[1], uids[3]]
    for name in ("device_uid", "meter_id", "customer_no"):
        page = await store.list_devices(T, ListQuery(filters={name: device(uids[2])[name]}))
        assert [d["device_uid"] for d in page.items] == [uids[2]], name
    page = await store.list_devices(T, ListQuery(filters={"meter_id": "nothing"}))
    assert page.items == [] and page.total == 0

    page = await store.list_devices(T, ListQuery(sort="last_timestamp"))
    assert [d["device_uid"] for d in page.items] == uids[::-1]
    page = await store.list_devices(T, ListQuery(sort="last_access", descending=True, limit=2, offset=1))
    assert [d["device_uid"] for d in page.items] == [uids[3], uids[2]] and page.total == 5
    page = await store.list_devices(T, ListQuery(sort="device_uid", limit=2, offset=4))
    assert [d["device_uid"] for d in page.items] == [uids[4]] and page.total == 5
    page = await store.list_devices(T, ListQuery(sort="device_uid", limit=0))
    assert page.items == [] and page.total == 5
    assert (await store.list_devices(T2, ListQuery())).total == 1


# ---------------------------------------------------------------------------- readings
async def test_insert_readings_deduplicates(store):
    uid = "0000AB01"
    first = [reading(uid, BASE_TS + 3600 * i, 100 + i) for i in range(24)]
    assert await store.insert_readings(T, first) == 24
    overlap = [reading(uid, BASE_TS + 3600 * i, 999) for i in range(20, 30)]
    assert await store.insert_readings(T, overlap) == 6
    within = [
        reading(uid, BASE_TS + 3600 * 40, 5),
        reading(uid, BASE_TS + 3600 * 40, 6),
        reading("0000AB02", BASE_TS, 7),
    ]
    assert await store.insert_readings(T, within) == 2
    assert await store.insert_readings(T, []) == 0
    page = await store.list_readings(T, ListQuery(filters={"device_uid": uid}, limit=1000))
    assert page.total == 31
    by_ts = {r["timestamp"]: r for r in page.items}
    assert by_ts[BASE_TS + 3600 * 20] == first[20]  # the first write wins
    assert by_ts[BASE_TS + 3600 * 40]["counter_val"] == 5
    assert all(
        type(r["counter_val"]) is int and type(r["timestamp"]) is int and type(r["week"]) is int for r in page.items
    )
    assert (await store.list_readings(T2, ListQuery())).total == 0


async def test_readings_without_calendar_fields(store):
    assert await store.insert_readings(T, [{"device_uid": "0000AB01", "timestamp": BASE_TS, "counter_val": 3}]) == 1
    page = await store.list_readings(T, ListQuery())
    assert page.items == [{"device_uid": "0000AB01", "timestamp": BASE_TS, "counter_val": 3}]


async def test_list_readings_ranges_sort_paging(store):
    uid = "0000AB01"
    rows = [reading(uid, BASE_TS + 3600 * i, 10 * i) for i in range(10)]
    await store.insert_readings(T, list(reversed(rows)))
    await store.insert_readings(T, [reading("0000AB02", BASE_TS + 3600 * 3, 1)])
    page = await store.list_readings(T, ListQuery(filters={"device_uid": uid}))
    assert page.items == rows and page.total == 10
    page = await store.list_readings(
        T, ListQuery(filters={"device_uid": uid}, ranges={"timestamp": (BASE_TS + 3600 * 2, BASE_TS + 3600 * 5)})
    )
    assert page.items == rows[2:5]
    page = await store.list_readings(
        T, ListQuery(filters={"device_uid": uid}, ranges={"timestamp": (BASE_TS + 3600 * 7, None)})
    )
    assert page.items == rows[7:]
    page = await store.list_readings(
        T, ListQuery(filters={"device_uid": uid}, ranges={"timestamp": (None, BASE_TS + 3600)})
    )
    assert page.items == rows[:1]
    page = await store.list_readings(
        T, ListQuery(filters={"device_uid": uid}, sort="timestamp", descending=True, limit=3, offset=2)
    )
    assert page.items == rows[7:4:-1] and page.total == 10
    page = await store.list_readings(T, ListQuery(ranges={"timestamp": (BASE_TS + 3600 * 3, BASE_TS + 3600 * 4)}))
    assert page.total == 2


async def test_readings_for_usage_includes_baseline(store):
    uid = "0000AB01"
    rows = [reading(uid, BASE_TS + 3600 * i, 10 * i) for i in range(6)]
    await store.insert_readings(T, rows)
    await store.insert_readings(T, [reading("0000AB02", BASE_TS + 3600 * 2, 1)])
    got = await store.readings_for_usage(T, uid, BASE_TS + 3600 * 2, BASE_TS + 3600 * 4)
    assert [r["timestamp"] for r in got] == [BASE_TS + 3600 * i for i in (1, 2, 3)]
    assert got[0]["counter_val"] == 10
    got = await store.readings_for_usage(T, uid, BASE_TS, BASE_TS + 3600 * 2)
    assert [r["timestamp"] for r in got] == [BASE_TS, BASE_TS + 3600]
    assert await store.readings_for_usage(T, "0000AB09", BASE_TS, BASE_TS + 3600) == []


# ---------------------------------------------------------------------------- record_report, events
async def test_record_report(store):
    uid = "0000AB01"
    await store.add_device(T, device(uid))
    await store.insert_readings(T, [reading(uid, BASE_TS + 3600 * i, i) for i in range(4)])
    readings = [reading(uid, BASE_TS + 3600 * i, i) for i in range(24)]
    event = {
        "device_uid": uid,
        "event_time": BASE_TS + 3600 * 23,
        "event_code": 1,
        "event_type": "magnetic",
        "event_message": "magnetic field",
        "event_status": "open",
    }
    fields = {
        "last_timestamp": BASE_TS + 3600 * 23,
        "last_count": 23,
        "battery": 91,
        "last_access": "2025-03-06 23:00:00",
    }
    assert await store.record_report(T, uid, fields, readings, event) == 20
    got = await store.get_device(T, uid)
    assert got == device(uid, **fields)
    assert (await store.list_readings(T, ListQuery(filters={"device_uid": uid}))).total == 24
    events = (await store.list_events(T, ListQuery(filters={"device_uid": uid}))).items
    assert len(events) == 1 and subset(events[0], event) == event and isinstance(events[0]["event_id"], str)

    assert await store.record_report(T, uid, {"battery": 90}, readings) == 0
    assert (await store.get_device(T, uid))["battery"] == 90
    assert (await store.list_events(T, ListQuery())).total == 1


async def test_a_resent_report_stores_nothing_new(store):
    """A meter whose reply was lost sends the same report again: its event carries the same ``event_id``
    and the store converges to the state of one report (device fields, readings, one event)."""
    uid = "0000AB05"
    await store.add_device(T, device(uid))
    readings = [reading(uid, BASE_TS + 3600 * i, i) for i in range(24)]
    event = {"event_id": f"{uid}-E0-1-{BASE_TS}-5000", "device_uid": uid, "event_time": BASE_TS, "event_code": 1}
    fields = {"last_timestamp": BASE_TS + 3600 * 23, "last_count": 23, "battery": 91}
    assert await store.record_report(T, uid, fields, readings, event) == 24
    once = (await store.get_device(T, uid), (await store.list_readings(T, ListQuery(limit=1000))).items)
    for _ in range(2):
        resent = {**event, "event_time": BASE_TS + 60}  # the gateway's clock moved on; the id did not
        assert await store.record_report(T, uid, fields, readings, resent) == 0
    assert (await store.get_device(T, uid), (await store.list_readings(T, ListQuery(limit=1000))).items) == once
    events = (await store.list_events(T, ListQuery())).items
    assert [(e["event_id"], e["event_time"]) for e in events] == [(event["event_id"], BASE_TS)]
    # add_event with a stored id is skipped the same way; another id is another event
    assert await store.add_event(T, {**event, "event_time": BASE_TS + 120}) == event["event_id"]
    assert await store.add_event(T, {**event, "event_id": "other"}) == "other"
    assert (await store.list_events(T, ListQuery())).total == 2
    # an event id is per tenant
    await store.record_report(T2, uid, {}, [], event)
    assert (await store.list_events(T2, ListQuery())).total == 1


async def test_reading_rows_are_stored_as_the_readings_they_stand_for(store):
    uid = "0000AB06"
    await store.add_device(T, device(uid))
    rows = [reading_row(BASE_TS + 3600 * i, i) for i in range(24)]
    assert ReadingRows(uid, rows).docs() == [reading(uid, BASE_TS + 3600 * i, i) for i in range(24)]
    assert await store.insert_readings(T, ReadingRows(uid, rows[:4])) == 4
    assert await store.record_report(T, uid, {"last_count": 23}, ReadingRows(uid, rows)) == 20
    assert await store.record_report(T, uid, {"last_count": 23}, ReadingRows(uid, rows)) == 0
    assert await store.record_report(T, uid, {}, ReadingRows(uid, [])) == 0
    page = await store.list_readings(T, ListQuery(filters={"device_uid": uid}, sort="timestamp", limit=100))
    assert page.items == [reading(uid, BASE_TS + 3600 * i, i) for i in range(24)]
    assert all(type(value) is int for item in page.items for key, value in item.items() if key != "device_uid")
    # the rows of one device cannot be filed as another's report
    with pytest.raises(InvalidInput, match="0000AB07"):
        await store.record_report(T, uid, {"battery": 1}, ReadingRows("0000AB07", [reading_row(BASE_TS - 3600, 1)]))
    assert (await store.list_readings(T, ListQuery(filters={"device_uid": uid}))).total == 24
    assert "battery" not in await store.get_device(T, uid)


async def test_concurrent_record_reports(store):
    uids = [f"0000C{i:03d}" for i in range(20)]
    for uid in uids:
        await store.add_device(T, device(uid))
    results = await asyncio.gather(
        *(
            store.record_report(T, uid, {"last_count": 24}, [reading(uid, BASE_TS + 3600 * i, i) for i in range(24)])
            for uid in uids
        )
    )
    assert results == [24] * 20
    assert (await store.list_readings(T, ListQuery())).total == 480
    assert [(await store.get_device(T, uid))["last_count"] for uid in uids] == [24] * 20


# ---------------------------------------------------------------------------- record_routed_report
class Decider:
    """A ``decide`` for ``record_routed_report``: records what it was given; reports ``report`` for a device
    it is given (None: nothing), and answers ``("decided", tenant)``."""

    def __init__(self, report=None, error=None):
        self.report, self.error, self.calls = report, error, []

    def __call__(self, tenant, device):
        self.calls.append((tenant, device))
        if self.error is not None:
            raise self.error
        return ("decided", tenant), (self.report if device is not None else None)


async def test_record_routed_report_decides_on_the_routed_device_and_records_its_report(store):
    uid = "0000AD01"
    await store.add_device(T, device(uid))
    rows = [reading_row(BASE_TS + 3600 * i, i) for i in range(24)]
    event = {"event_id": f"{uid}-E0-1", "device_uid": uid, "event_time": BASE_TS, "event_code": 1}
    decide = Decider(Report({"last_count": 23, "battery": 5}, ReadingRows(uid, rows), event))
    assert await store.record_routed_report(uid, decide) == ("decided", T)
    assert decide.calls[-1] == (T, device(uid))
    assert await store.get_device(T, uid) == device(uid, last_count=23, battery=5)
    page = await store.list_readings(T, ListQuery(filters={"device_uid": uid}, sort="timestamp", limit=100))
    assert page.items == [reading(uid, BASE_TS + 3600 * i, i) for i in range(24)]
    assert [e["event_id"] for e in (await store.list_events(T, ListQuery())).items] == [event["event_id"]]
    # the next decision sees what the last one recorded; a resend stores nothing new
    assert await store.record_routed_report(uid, decide) == ("decided", T)
    assert decide.calls[-1] == (T, device(uid, last_count=23, battery=5))
    assert (await store.list_readings(T, ListQuery())).total == 24
    assert (await store.list_events(T, ListQuery())).total == 1


async def test_record_routed_report_of_an_unknown_or_unheld_device_records_nothing(store):
    decide = Decider(Report({"battery": 1}, []))
    assert await store.record_routed_report("0000AD02", decide) == ("decided", None)
    await store.add_device(T2, device("0000AD02"))
    await store.delete_device(T2, "0000AD02")
    await store.set_device_route("0000AD02", T)  # a route to a tenant that holds no such device
    assert await store.record_routed_report("0000AD02", decide) == ("decided", T)
    assert decide.calls == [(None, None), (T, None)]
    assert await store.get_device(T, "0000AD02") is None


async def test_record_routed_report_refuses_a_report_it_cannot_store_and_writes_nothing(store):
    uid = "0000AD03"
    await store.add_device(T, device(uid))
    before = await store.get_device(T, uid)
    bad_reports = [
        Report({"battery": 1}, ReadingRows("0000AD04", [reading_row(BASE_TS, 1)])),  # another device's rows
        Report({"battery": 1}, ReadingRows(uid, [(BASE_TS, 1.5, 2025, 3, 6, 0, 3, 9)])),
        Report({"battery": {1, 2}}, []),
        Report({"battery": 1}, [], {"device_uid": uid}),  # an event without its time
    ]
    for report in bad_reports:
        with pytest.raises(InvalidInput):
            await store.record_routed_report(uid, Decider(report))
    with pytest.raises(ZeroDivisionError):
        await store.record_routed_report(uid, Decider(error=ZeroDivisionError("the plugin's bug")))
    # a report for a device with no route has no tenant to go to
    with pytest.raises(InvalidInput):
        await store.record_routed_report("0000AD05", lambda tenant, device: (None, Report({"battery": 1}, [])))
    assert await store.get_device(T, uid) == before
    assert (await store.list_readings(T, ListQuery())).total == 0
    assert (await store.list_events(T, ListQuery())).total == 0


async def test_events(store):
    ids = []
    for i in range(4):
        ids.append(
            await store.add_event(
                T,
                {
                    "device_uid": "0000AB01" if i < 3 else "0000AB02",
                    "event_time": BASE_TS + i * 60,
                    "event_code": i,
                    "event_type": "magnetic" if i % 2 == 0 else "rotation",
                    "event_message": f"m{i}",
                    "event_status": "open" if i < 2 else "closed",
                },
            )
        )
    assert len(set(ids)) == 4 and all(isinstance(i, str) and i for i in ids)
    page = await store.list_events(T, ListQuery())
    assert page.total == 4
    first = next(e for e in page.items if e["event_id"] == ids[0])
    assert first == {
        "device_uid": "0000AB01",
        "event_time": BASE_TS,
        "event_code": 0,
        "event_type": "magnetic",
        "event_message": "m0",
        "event_status": "open",
        "event_id": ids[0],
    }
    assert type(first["event_code"]) is int
    page = await store.list_events(T, ListQuery(filters={"device_uid": "0000AB01"}, sort="event_time", descending=True))
    assert [e["event_id"] for e in page.items] == [ids[2], ids[1], ids[0]]
    page = await store.list_events(T, ListQuery(filters={"event_type": "magnetic", "event_status": "closed"}))
    assert [e["event_id"] for e in page.items] == [ids[2]]
    page = await store.list_events(
        T, ListQuery(ranges={"event_time": (BASE_TS + 60, BASE_TS + 180)}, sort="event_time")
    )
    assert [e["event_id"] for e in page.items] == [ids[1], ids[2]]
    assert (await store.list_events(T2, ListQuery())).total == 0


# ---------------------------------------------------------------------------- exchange log, dead letters
async def test_exchange_log_round_trip_and_listing(store):
    junk = b"GET / HTTP/1.1\r\n\r\n\x00\xff"
    entries = [exchange(1741219200.25 + i, ip=f"10.1.1.{i % 2}") for i in range(3)]
    entries.append(exchange(1741219210.5, ip="10.9.9.9", device_type="unknown", recv=junk))
    for entry in entries:
        await store.log_exchange(entry)
    page = await store.list_exchanges(ListQuery())
    assert page.total == 4
    assert [subset(e, entries[0]) for e in page.items] == [entries[3], entries[2], entries[1], entries[0]]
    assert all("_id" not in e for e in page.items)
    assert type(page.items[0]["recv"]) is bytes and page.items[0]["recv"] == junk and type(page.items[0]["port"]) is int
    page = await store.list_exchanges(ListQuery(filters={"ip": "10.1.1.0"}, sort="at"))
    assert [e["at"] for e in page.items] == [entries[0]["at"], entries[2]["at"]]
    page = await store.list_exchanges(ListQuery(filters={"device_type": "unknown"}))
    assert [e["recv"] for e in page.items] == [junk]
    page = await store.list_exchanges(ListQuery(ranges={"at": (entries[1]["at"], entries[3]["at"])}, sort="at"))
    assert [e["at"] for e in page.items] == [entries[1]["at"], entries[2]["at"]]
    page = await store.list_exchanges(ListQuery(ranges={"datetime": ("2025-03-06 09:00:00", "2025-03-06 09:00:01")}))
    assert page.total == 4
    page = await store.list_exchanges(ListQuery(ranges={"datetime": ("2025-03-06 09:00:01", None)}))
    assert page.total == 0
    page = await store.list_exchanges(ListQuery(filters={"port": 5004}, limit=1, offset=1))
    assert len(page.items) == 1 and page.items[0]["at"] == entries[2]["at"] and page.total == 4


async def test_exchanges_logged_as_a_batch_are_kept_alike_and_one_bad_entry_refuses_the_batch(store):
    entries = [exchange(1741219200.25 + i, ip=f"10.2.2.{i}") for i in range(5)]
    await store.log_exchanges(entries)
    await store.log_exchanges([])
    page = await store.list_exchanges(ListQuery(sort="at"))
    assert [subset(e, entries[0]) for e in page.items] == entries
    with pytest.raises(InvalidInput):
        await store.log_exchanges([exchange(1741219300.0, ip="10.3.3.3"), {**exchange(1.0), "at": "soon"}])
    with pytest.raises(InvalidInput):
        await store.log_exchanges(exchange(1741219300.0))  # one entry, not a list of them
    assert (await store.list_exchanges(ListQuery())).total == 5  # nothing of a refused batch was kept


async def test_dead_letters(store):
    entries = [
        {
            "device_type": "gas_meter",
            "ip": "10.1.1.1",
            "port": 5004,
            "at": 1741219200.0 + i,
            "data": bytes([0xA0, i]) + b"\xff" * 3,
            "error": "checksum mismatch",
            "path": f"report -> counts -> {i}",
        }
        for i in range(3)
    ]
    entries[2]["device_type"] = "scale"
    ids = [await store.add_dead_letter(e) for e in entries]
    assert len(set(ids)) == 3 and all(isinstance(i, str) for i in ids)
    page = await store.list_dead_letters(ListQuery())
    assert page.total == 3 and [d["id"] for d in page.items] == ids[::-1]
    assert {k: v for k, v in page.items[2].items() if k != "id"} == entries[0]
    assert type(page.items[0]["data"]) is bytes
    page = await store.list_dead_letters(ListQuery(filters={"device_type": "gas_meter", "ip": "10.1.1.1"}, sort="at"))
    assert [d["id"] for d in page.items] == ids[:2]
    page = await store.list_dead_letters(ListQuery(ranges={"at": (entries[1]["at"], None)}, sort="at"))
    assert [d["id"] for d in page.items] == ids[1:]


# ---------------------------------------------------------------------------- scales
async def test_scale_latest(store):
    assert await store.get_scale_latest("S1") is None
    first = {
        "status": "ST",
        "weight": Decimal("61.250"),
        "unit": "kg",
        "raw": "ST,GS,+0061.250kg",
        "received_at": 1741219200.5,
    }
    await store.set_scale_latest("S1", first)
    got = await store.get_scale_latest("S1")
    assert got == {"scale_id": "S1", **first}
    assert isinstance(got["weight"], Decimal) and str(got["weight"]) == "61.250"
    second = {"status": "ST", "weight": Decimal("-0.005"), "unit": "kg", "received_at": 1741219260.0}
    await store.set_scale_latest("S1", second)
    got = await store.get_scale_latest("S1")
    assert got == {"scale_id": "S1", **second} and str(got["weight"]) == "-0.005"
    await store.set_scale_latest("S2", first)
    assert (await store.get_scale_latest("S2"))["weight"] == Decimal("61.250")
    assert (await store.get_scale_latest("S1"))["received_at"] == 1741219260.0


async def test_weighing_log(store):
    records = [
        weighing("C001", "arrival", 1000.0),
        weighing("C002", "arrival", 1010.0, gross="59.100"),
        weighing("C001", "shipping", 1020.0, gross="12.005"),
        weighing("C003", "shipping", 1030.0, scale_id="S2"),
    ]
    stored = [await store.commit_weighing(r) for r in records]
    ids = [s["id"] for s in stored]
    assert all(type(i) is int for i in ids) and ids == sorted(ids) and len(set(ids)) == 4
    assert stored[2] == {**records[2], "id": ids[2]} and str(stored[2]["gross_kg"]) == "12.005"
    more = await asyncio.gather(
        *(store.commit_weighing(weighing(f"D{i:03d}", "arrival", 2000.0 + i)) for i in range(10))
    )
    more_ids = sorted(m["id"] for m in more)
    assert len(set(more_ids)) == 10 and more_ids[0] > ids[-1]

    page = await store.search_weighings(ListQuery(filters={"cylinder_no": "C001"}))
    assert [w["id"] for w in page.items] == [ids[0], ids[2]]
    assert page.items[1] == stored[2] and isinstance(page.items[1]["gross_kg"], Decimal)
    assert str(page.items[1]["gross_kg"]) == "12.005"
    page = await store.search_weighings(ListQuery(filters={"event_type": "shipping"}, descending=True))
    assert [w["id"] for w in page.items] == [ids[3], ids[2]]
    page = await store.search_weighings(ListQuery(filters={"scale_id": "S2"}))
    assert [w["id"] for w in page.items] == [ids[3]]
    page = await store.search_weighings(ListQuery(ranges={"committed_at": (1010.0, 1030.0)}))
    assert [w["id"] for w in page.items] == ids[1:3]
    page = await store.search_weighings(ListQuery(limit=3, offset=2))
    assert [w["id"] for w in page.items] == [ids[2], ids[3], more_ids[0]] and page.total == 14


# ---------------------------------------------------------------------------- measurements
def measurement(device_id: str, at: float | int, values: dict | None = None, **fields) -> dict:
    return {
        "device_type": "mbus",
        "device_id": device_id,
        "at": at,
        "values": {"energy_kwh": Decimal("1.000")} if values is None else values,
        **fields,
    }


async def test_measurements_round_trip_exactly_and_skip_duplicates(store):
    values = {
        "energy_kwh": Decimal("1234.560"),
        "raw": b"\x00\xff\x10",
        "flow_m3h": 0.25,
        "pulses": 7,
        "ok": True,
        "error": None,
        "tariffs": [Decimal("-0.5"), {"blob": b"\x01", "n": 2}],
        "deep": {"list": [1, "two", None]},
    }
    first = measurement("12345678", 1741219200.5, values, tenant=T)
    second = measurement("12345678", 1741219260)
    assert await store.record_measurements([first, second, {**second, "values": {"again": 1}}]) == 2
    assert (
        await store.record_measurements(
            [first, {**second, "values": {"changed": 1}}, measurement("87654321", 1741219260)]
        )
        == 1
    )
    assert await store.record_measurements([]) == 0

    page = await store.list_measurements(ListQuery(filters={"device_id": "12345678"}))
    assert page.total == 2 and page.items == [{**second, "tenant": None}, first]
    got = page.items[1]["values"]
    assert type(got["energy_kwh"]) is Decimal and str(got["energy_kwh"]) == "1234.560"
    assert type(got["raw"]) is bytes and type(got["tariffs"][1]["blob"]) is bytes
    assert str(got["tariffs"][0]) == "-0.5" and type(got["pulses"]) is int and got["ok"] is True
    assert type(page.items[0]["at"]) is int and (await store.list_measurements(ListQuery())).total == 3
    page = await store.list_measurements(ListQuery(filters={"tenant": None}))
    assert [m["device_id"] for m in page.items] == ["87654321", "12345678"]


# ---------------------------------------------------------------------------- users, registrations
async def test_users_and_routes(store):
    alice = {
        "ID": "alice",
        "code": "U24110319484920",
        "passwd": "a" * 64,
        "name": "Alice",
        "email": "alice@example.com",
        "lang": "eng",
        "role": "admin",
        "flag": True,
        "level": 3,
    }
    await store.add_user(T, alice)
    assert await store.get_user(T, "alice") == alice
    assert await store.find_user("alice") == (T, alice)
    assert await store.get_user(T2, "alice") is None
    with pytest.raises(Conflict):
        await store.add_user(T2, {**alice, "name": "Intruder"})
    with pytest.raises(Conflict):
        await store.add_user(T, {**alice, "name": "Again"})
    assert await store.find_user("alice") == (T, alice)
    assert await store.get_user(T2, "alice") is None

    assert await store.update_user(T, "alice", {"flag": False, "level": 4}) is True
    got = await store.get_user(T, "alice")
    assert got["flag"] is False and got["level"] == 4 and got["passwd"] == "a" * 64
    assert await store.update_user(T, "nobody", {"flag": False}) is False
    assert await store.find_user("nobody") is None

    await store.add_user(T, {"ID": "bob", "role": "user", "flag": True, "email": "bob@example.com"})
    await store.add_user(T, {"ID": "carol", "role": "user", "flag": False, "email": "carol@example.com"})
    page = await store.list_users(T, ListQuery(sort="ID"))
    assert [u["ID"] for u in page.items] == ["alice", "bob", "carol"] and page.total == 3
    page = await store.list_users(T, ListQuery(filters={"role": "user"}, sort="ID", descending=True))
    assert [u["ID"] for u in page.items] == ["carol", "bob"]
    page = await store.list_users(T, ListQuery(filters={"flag": False}, sort="ID"))
    assert [u["ID"] for u in page.items] == ["alice", "carol"]
    page = await store.list_users(T, ListQuery(filters={"email": "bob@example.com"}))
    assert [u["ID"] for u in page.items] == ["bob"]
    page = await store.list_users(T, ListQuery(filters={"ID": "carol"}))
    assert [u["ID"] for u in page.items] == ["carol"]

    assert await store.delete_user(T, "alice") is True
    assert await store.get_user(T, "alice") is None and await store.find_user("alice") is None
    assert await store.delete_user(T, "alice") is False
    await store.add_user(T2, {"ID": "alice", "role": "user", "flag": True})
    assert (await store.find_user("alice"))[0] == T2


async def test_registrations(store):
    reg = {
        "ID": "dave",
        "email": "dave@example.com",
        "name": "Dave",
        "passwd": "d" * 64,
        "lang": "kor",
        "category": "company",
        "comment": "please",
        "regdate": "2025-03-06 10:00:00",
        "flag": False,
    }
    await store.add_registration(reg)
    assert await store.get_registration("dave") == reg
    assert await store.get_registration("nobody") is None
    with pytest.raises(Conflict):
        await store.add_registration({**reg, "email": "other@example.com"})
    await store.add_user(T, {"ID": "alice", "flag": True})
    with pytest.raises(Conflict):
        await store.add_registration({**reg, "ID": "alice"})
    assert await store.get_registration("alice") is None
    await store.add_registration({**reg, "ID": "erin", "category": "person", "regdate": "2025-03-05 10:00:00"})
    await store.add_registration({**reg, "ID": "fay", "category": "company", "regdate": "2025-03-07 10:00:00"})

    assert await store.set_registration_flag("dave", True) is True
    assert (await store.get_registration("dave"))["flag"] is True
    assert await store.set_registration_flag("nobody", True) is False
    page = await store.list_registrations(ListQuery(sort="regdate"))
    assert [r["ID"] for r in page.items] == ["erin", "dave", "fay"] and page.total == 3
    page = await store.list_registrations(ListQuery(filters={"flag": False}, sort="regdate", descending=True))
    assert [r["ID"] for r in page.items] == ["fay", "erin"]
    page = await store.list_registrations(ListQuery(filters={"category": "company"}, sort="regdate"))
    assert [r["ID"] for r in page.items] == ["dave", "fay"]
    assert await store.set_registration_flag("dave", False) is True
    assert (await store.get_registration("dave"))["flag"] is False


# ---------------------------------------------------------------------------- sessions
async def test_sessions(store):
    now = 1741219200.0
    s1, s2, s3 = (
        session_doc("h1", "alice", now + 3600),
        session_doc("h2", "alice", now + 7200),
        session_doc("h3", "bob", now + 60),
    )
    for s in (s1, s2, s3):
        await store.create_session(s)
    with pytest.raises(Conflict):
        await store.create_session(session_doc("h1", "mallory", now + 9999))
    assert subset(await store.get_session("h1", now), s1) == s1
    assert (await store.get_session("h1", now))["login_id"] == "alice"
    assert await store.get_session("h3", now + 59.5) is not None
    assert await store.get_session("h3", now + 60) is None
    assert await store.get_session("nope", now) is None

    assert await store.revoke_session("h3") is True
    assert await store.get_session("h3", now) is None
    assert await store.revoke_session("nope") is False
    assert await store.revoke_user_sessions("alice") == 2
    assert await store.get_session("h1", now) is None and await store.get_session("h2", now) is None
    assert await store.revoke_user_sessions("alice") == 0
    assert await store.revoke_user_sessions("nobody") == 0


# ---------------------------------------------------------------------------- subscribers
async def test_subscribers(store):
    sub = {
        "customer_no": "S32649713",
        "customer_name": "Kim",
        "subscriber_no": "1204321613",
        "meter_id": "365478965162",
        "addr_city": "Seoul",
        "class": "4(G2.5)",
        "share_house": "X",
        "in_outdoor": "실내",
        "category": "주택용",
        "checked": False,
        "bind_device_id": None,
        "bind_date": None,
        "binded": False,
    }
    assert await store.upsert_subscriber(T, sub) is True
    assert await store.get_subscriber(T, "S32649713") == sub
    assert (
        await store.upsert_subscriber(T, {"customer_no": "S32649713", "bind_device_id": "0000AB01", "binded": True})
        is False
    )
    got = await store.get_subscriber(T, "S32649713")
    assert got == {**sub, "bind_device_id": "0000AB01", "binded": True}
    assert await store.get_subscriber(T2, "S32649713") is None

    await store.upsert_subscriber(T, {**sub, "customer_no": "S1", "meter_id": "m1", "subscriber_no": "n1"})
    await store.upsert_subscriber(
        T,
        {
            **sub,
            "customer_no": "S2",
            "meter_id": "m2",
            "subscriber_no": "n2",
            "bind_device_id": "0000AB02",
            "binded": True,
        },
    )
    page = await store.list_subscribers(T, ListQuery(sort="customer_no"))
    assert [s["customer_no"] for s in page.items] == ["S1", "S2", "S32649713"] and page.total == 3
    page = await store.list_subscribers(T, ListQuery(filters={"binded": True}, sort="customer_no", descending=True))
    assert [s["customer_no"] for s in page.items] == ["S32649713", "S2"]
    for name, value, expected in (
        ("meter_id", "m1", "S1"),
        ("subscriber_no", "n2", "S2"),
        ("bind_device_id", "0000AB01", "S32649713"),
        ("customer_no", "S1", "S1"),
    ):
        page = await store.list_subscribers(T, ListQuery(filters={name: value}))
        assert [s["customer_no"] for s in page.items] == [expected], name
    assert await store.delete_subscriber(T, "S1") is True
    assert await store.delete_subscriber(T, "S1") is False
    assert await store.get_subscriber(T, "S1") is None


# ---------------------------------------------------------------------------- usage
async def test_usage_buckets_with_reset_and_baseline(store):
    uid = "0000AB01"
    # +09:00 local times; the baseline is the last reading before start.
    points = [
        (BASE_TS - 3600, 1000),  # 2025-03-05 23:00 baseline
        (BASE_TS, 1010),  # 03-06 00:00  +10
        (BASE_TS + 1800, 1015),  # 03-06 00:30  +5
        (BASE_TS + 3600, 1030),  # 03-06 01:00  +15
        (BASE_TS + 7200, 20),  # 03-06 02:00  reset -> 0
        (BASE_TS + 86400, 50),  # 03-07 00:00  +30
        (BASE_TS + 86400 * 4, 80),  # 03-10 00:00 (Monday, week 11)  +30
        (BASE_TS + 86400 * 26, 100),  # 2025-04-01 00:00  +20
        (BASE_TS + 86400 * 301, 150),  # 2026-01-01 00:00  +50
        (BASE_TS + 86400 * 400, 1),  # outside the range
    ]
    await store.insert_readings(T, [reading(uid, ts, count) for ts, count in points])
    start, end = BASE_TS, BASE_TS + 86400 * 302

    hours = await store.usage(T, uid, "hour", start, end, KST)
    assert [(h["label"], h["usage"], h["readings"], h["resets"]) for h in hours[:3]] == [
        ("2025-03-06 00:00", 15, 2, 0),
        ("2025-03-06 01:00", 15, 1, 0),
        ("2025-03-06 02:00", 0, 1, 1),
    ]
    assert hours[0]["start"] == BASE_TS and hours[0]["end"] == BASE_TS + 3600
    assert hours[0]["first_count"] == 1010 and hours[0]["last_count"] == 1015

    days = await store.usage(T, uid, "day", start, end, KST)
    assert [(d["label"], d["usage"], d["readings"], d["resets"]) for d in days] == [
        ("2025-03-06", 30, 4, 1),
        ("2025-03-07", 30, 1, 0),
        ("2025-03-10", 30, 1, 0),
        ("2025-04-01", 20, 1, 0),
        ("2026-01-01", 50, 1, 0),
    ]
    assert days[0]["start"] == BASE_TS and days[0]["end"] == BASE_TS + 86400
    assert days[0]["first_count"] == 1010 and days[0]["last_count"] == 20

    weeks = await store.usage(T, uid, "week", start, end, KST)
    assert [(w["label"], w["usage"], w["resets"]) for w in weeks] == [
        ("2025-W10", 60, 1),
        ("2025-W11", 30, 0),
        ("2025-W14", 20, 0),
        ("2026-W01", 50, 0),
    ]
    assert weeks[0]["start"] == BASE_TS - 3 * 86400 and weeks[0]["end"] == BASE_TS + 4 * 86400

    months = await store.usage(T, uid, "month", start, end, KST)
    assert [(m["label"], m["usage"], m["readings"]) for m in months] == [
        ("2025-03", 90, 6),
        ("2025-04", 20, 1),
        ("2026-01", 50, 1),
    ]
    years = await store.usage(T, uid, "year", start, end, KST)
    assert [(y["label"], y["usage"], y["resets"], y["first_count"], y["last_count"]) for y in years] == [
        ("2025", 110, 1, 1010, 100),
        ("2026", 50, 0, 150, 150),
    ]
    assert years[1]["start"] == BASE_TS + 86400 * 301

    with pytest.raises(InvalidInput):
        await store.usage(T, uid, "fortnight", start, end, KST)


# ---------------------------------------------------------------------------- admin explorer
async def test_list_collections_and_browse(store):
    await store.add_tenant(T)
    await store.add_device(T, device("0000AB01"))
    await store.insert_readings(T, [reading("0000AB01", BASE_TS, 5)])
    await store.log_exchange(exchange(1741219200.0))
    await store.add_device(T2, device("0000CD01"))
    listing = await store.list_collections()
    names = [entry["db"] for entry in listing]
    assert names == sorted(names)
    tenants = {T, T2}
    assert tenants <= set(names) and len(names) == 3
    common = next(n for n in names if n not in tenants)
    by_db = {entry["db"]: entry["collections"] for entry in listing}
    assert all(cols == sorted(cols) for cols in by_db.values())
    assert {"device_route", "misc_data"} <= set(by_db[common]) <= COMMON_COLLECTIONS
    assert {"device", "data"} <= set(by_db[T]) <= TENANT_COLLECTIONS

    page = await store.browse(T, "device", ListQuery())
    assert page.items == [device("0000AB01")] and page.total == 1
    page = await store.browse(T, "data", ListQuery(filters={"device_uid": "0000AB01"}))
    assert page.items == [reading("0000AB01", BASE_TS, 5)]
    page = await store.browse(common, "device_route", ListQuery(sort="device_uid"))
    assert page.items == [{"device_uid": "0000AB01", "db_name": T}, {"device_uid": "0000CD01", "db_name": T2}]
    page = await store.browse(common, "device_route", ListQuery(filters={"db_name": T2}))
    assert [r["device_uid"] for r in page.items] == ["0000CD01"]
    page = await store.browse(common, "misc_data", ListQuery())
    assert subset(page.items[0], exchange(1741219200.0)) == exchange(1741219200.0)
    page = await store.browse(
        T, "device", ListQuery(filters={"status": 0, "flag": True}, sort="meter_id", descending=True)
    )
    assert page.total == 1

    for db, collection in (
        (T, "nope"),
        ("admin", "system.users"),
        ("local", "startup_log"),
        ("gas_missing", "device"),
        (common, "device"),
        (T, "device_route"),
        (T, "specgate_meta"),
    ):
        with pytest.raises(NotFound):
            await store.browse(db, collection, ListQuery())
    for db, collection in ((T, "$where"), ("$where", "device"), (T, "$cmd")):
        with pytest.raises((NotFound, InvalidInput)):
            await store.browse(db, collection, ListQuery())
    for db, collection in ((T, {"$ne": None}), ({"$ne": None}, "device"), (T, None), (T, ["device"])):
        with pytest.raises(InvalidInput):
            await store.browse(db, collection, ListQuery())
    with pytest.raises(InvalidInput):
        await store.browse(T, "device", ListQuery(filters={"device_uid": {"$ne": None}}))
    with pytest.raises(InvalidInput):
        await store.browse(T, "device", ListQuery(filters={"$where": "1"}))


# ---------------------------------------------------------------------------- bad input: refused, never executed
BAD_IDENTIFIERS = [
    None,
    5,
    1.5,
    True,
    b"0000AB01",
    ["0000AB01"],
    {"$ne": None},
    {"$gt": ""},
    "$where",
    "$ne",
    "",
    "a\x00b",
]
BAD_TENANTS = BAD_IDENTIFIERS + ["gas-demo", "gas demo", "gas.demo", "x" * 64, "gas_demo\n"]
BAD_NUMBERS = [None, "1741219200", {"$gt": 0}, ["1"], True, 2**70, float("nan")]
BAD_INTS = BAD_NUMBERS + [1.5]
BAD_DOCUMENTS = [None, "doc", ["device_uid"], {"$set": {"flag": True}}, {"a.b": 1}, {"nested": {"$ne": None}}, {"": 1}]


async def seed(store) -> None:
    """A little of everything, so a snapshot notices any stray write."""
    await store.add_tenant(T)
    await store.add_device(T, device("0000AB01"))
    await store.insert_readings(T, [reading("0000AB01", BASE_TS + 3600 * i, i) for i in range(3)])
    await store.add_event(
        T,
        {
            "device_uid": "0000AB01",
            "event_time": BASE_TS,
            "event_code": 1,
            "event_type": "magnetic",
            "event_message": "m",
            "event_status": "open",
        },
    )
    await store.add_user(T, {"ID": "alice", "role": "admin", "flag": True, "email": "a@example.com"})
    await store.add_registration(
        {"ID": "dave", "email": "d@example.com", "flag": False, "regdate": "2025-03-06 10:00:00"}
    )
    await store.create_session(session_doc("h1", "alice", 2e9))
    await store.upsert_subscriber(T, {"customer_no": "S1", "meter_id": "m1", "binded": False})
    await store.log_exchange(exchange(1741219200.0))
    await store.add_dead_letter(
        {
            "device_type": "gas_meter",
            "ip": "10.1.1.1",
            "port": 5004,
            "at": 1741219200.0,
            "data": b"\x00",
            "error": "short",
            "path": "report",
        }
    )
    await store.set_scale_latest(
        "S1", {"status": "ST", "weight": Decimal("1.5"), "unit": "kg", "raw": "x", "received_at": 1.0}
    )
    await store.commit_weighing(weighing("C001", "arrival", 1000.0))
    await store.record_measurements([measurement("12345678", 1741219200.0, tenant=T)])
    await store.create_api_token(api_token("tok1"))
    await store.note_login_failure("account:alice", time.time())


async def snapshot(store) -> dict:
    state = {}
    for entry in await store.list_collections():
        for collection in entry["collections"]:
            page = await store.browse(entry["db"], collection, ListQuery(limit=1000))
            state[(entry["db"], collection)] = sorted(map(repr, page.items))
    state["tenants"] = await store.list_tenants()
    return state


async def expect_refused(store, cases) -> None:
    before = await snapshot(store)
    failures = []
    for label, make_call in cases:
        try:
            await make_call()
        except InvalidInput:
            continue
        except Exception as exc:
            failures.append(f"{label}: raised {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{label}: accepted")
    assert not failures, "\n".join(failures)
    assert await snapshot(store) == before


def identifier_cases(store, bad):
    r = reading("0000AB01", BASE_TS + 99, 1)
    return [
        (f"get_device_route({bad!r})", lambda: store.get_device_route(bad)),
        (f"get_routed_device({bad!r})", lambda: store.get_routed_device(bad)),
        (f"set_device_route({bad!r})", lambda: store.set_device_route(bad, T)),
        (f"add_device(device_uid={bad!r})", lambda: store.add_device(T, {**device("0000AB09"), "device_uid": bad})),
        (f"get_device({bad!r})", lambda: store.get_device(T, bad)),
        (f"update_device({bad!r})", lambda: store.update_device(T, bad, {"flag": False})),
        (f"delete_device({bad!r})", lambda: store.delete_device(T, bad)),
        (f"insert_readings(device_uid={bad!r})", lambda: store.insert_readings(T, [r, {**r, "device_uid": bad}])),
        (f"readings_for_usage({bad!r})", lambda: store.readings_for_usage(T, bad, 0, BASE_TS)),
        (f"record_report({bad!r})", lambda: store.record_report(T, bad, {"battery": 1}, [r])),
        (
            f"add_event(device_uid={bad!r})",
            lambda: store.add_event(T, {"device_uid": bad, "event_time": 1, "event_code": 1}),
        ),
        (f"set_scale_latest({bad!r})", lambda: store.set_scale_latest(bad, {"status": "ST", "weight": Decimal(1)})),
        (f"get_scale_latest({bad!r})", lambda: store.get_scale_latest(bad)),
        (
            f"commit_weighing(scale_id={bad!r})",
            lambda: store.commit_weighing({**weighing("C009", "arrival", 5.0), "scale_id": bad}),
        ),
        (
            f"commit_weighing(cylinder_no={bad!r})",
            lambda: store.commit_weighing({**weighing("C009", "arrival", 5.0), "cylinder_no": bad}),
        ),
        (f"add_user(ID={bad!r})", lambda: store.add_user(T, {"ID": bad, "flag": True})),
        (f"get_user({bad!r})", lambda: store.get_user(T, bad)),
        (f"find_user({bad!r})", lambda: store.find_user(bad)),
        (f"update_user({bad!r})", lambda: store.update_user(T, bad, {"flag": False})),
        (f"delete_user({bad!r})", lambda: store.delete_user(T, bad)),
        (f"add_registration(ID={bad!r})", lambda: store.add_registration({"ID": bad, "flag": False})),
        (f"get_registration({bad!r})", lambda: store.get_registration(bad)),
        (f"set_registration_flag({bad!r})", lambda: store.set_registration_flag(bad, True)),
        (
            f"create_session(token_hash={bad!r})",
            lambda: store.create_session({**session_doc("h9", "alice", 2e9), "token_hash": bad}),
        ),
        (
            f"create_session(login_id={bad!r})",
            lambda: store.create_session({**session_doc("h9", "alice", 2e9), "login_id": bad}),
        ),
        (f"get_session({bad!r})", lambda: store.get_session(bad, 0.0)),
        (f"touch_session({bad!r})", lambda: store.touch_session(bad, 2e9, 1.0)),
        (f"revoke_session({bad!r})", lambda: store.revoke_session(bad)),
        (f"revoke_user_sessions({bad!r})", lambda: store.revoke_user_sessions(bad)),
        (f"delete_registration({bad!r})", lambda: store.delete_registration(bad)),
        (f"create_api_token(token_id={bad!r})", lambda: store.create_api_token({**api_token("tok9"), "token_id": bad})),
        (f"create_api_token(token_hash={bad!r})", lambda: store.create_api_token(api_token("tok9", token_hash=bad))),
        (f"create_api_token(created_by={bad!r})", lambda: store.create_api_token(api_token("tok9", created_by=bad))),
        (f"create_api_token(name={bad!r})", lambda: store.create_api_token(api_token("tok9", name=bad))),
        (f"create_api_token(scope={bad!r})", lambda: store.create_api_token(api_token("tok9", scopes=["a", bad]))),
        (f"get_api_token({bad!r})", lambda: store.get_api_token(bad, 0.0)),
        (f"revoke_api_token({bad!r})", lambda: store.revoke_api_token(bad, None)),
        (f"note_login_failure({bad!r})", lambda: store.note_login_failure(bad, time.time())),
        (f"count_login_failures({bad!r})", lambda: store.count_login_failures(bad, 0.0)),
        (f"clear_login_failures({bad!r})", lambda: store.clear_login_failures(bad)),
        (
            f"upsert_subscriber(customer_no={bad!r})",
            lambda: store.upsert_subscriber(T, {"customer_no": bad, "binded": True}),
        ),
        (f"get_subscriber({bad!r})", lambda: store.get_subscriber(T, bad)),
        (f"delete_subscriber({bad!r})", lambda: store.delete_subscriber(T, bad)),
        (
            f"record_measurements(device_type={bad!r})",
            lambda: store.record_measurements([measurement("1", 5.0), {**measurement("2", 6.0), "device_type": bad}]),
        ),
        (
            f"record_measurements(device_id={bad!r})",
            lambda: store.record_measurements([measurement("1", 5.0), {**measurement("2", 6.0), "device_id": bad}]),
        ),
    ] + (
        []
        if bad is None
        else [  # an exchange names no device when it is not known
            (f"log_exchange(device_uid={bad!r})", lambda: store.log_exchange({**exchange(1.0), "device_uid": bad})),
        ]
    )


async def test_bad_identifiers_are_refused(store):
    await seed(store)
    await expect_refused(store, [case for bad in BAD_IDENTIFIERS for case in identifier_cases(store, bad)])


def tenant_cases(store, bad):
    q = ListQuery()
    return [
        (f"add_tenant({bad!r})", lambda: store.add_tenant(bad)),
        (f"set_device_route(tenant={bad!r})", lambda: store.set_device_route("0000AB01", bad)),
        (f"add_device({bad!r})", lambda: store.add_device(bad, device("0000AB09"))),
        (f"get_device({bad!r})", lambda: store.get_device(bad, "0000AB01")),
        (f"update_device({bad!r})", lambda: store.update_device(bad, "0000AB01", {"flag": False})),
        (f"delete_device({bad!r})", lambda: store.delete_device(bad, "0000AB01")),
        (f"list_devices({bad!r})", lambda: store.list_devices(bad, q)),
        (f"insert_readings({bad!r})", lambda: store.insert_readings(bad, [reading("0000AB01", BASE_TS + 99, 1)])),
        (f"list_readings({bad!r})", lambda: store.list_readings(bad, q)),
        (f"readings_for_usage({bad!r})", lambda: store.readings_for_usage(bad, "0000AB01", 0, BASE_TS)),
        (f"usage({bad!r})", lambda: store.usage(bad, "0000AB01", "day", 0, BASE_TS, KST)),
        (f"record_report({bad!r})", lambda: store.record_report(bad, "0000AB01", {"battery": 1}, [])),
        (
            f"add_event({bad!r})",
            lambda: store.add_event(bad, {"device_uid": "0000AB01", "event_time": 1, "event_code": 1}),
        ),
        (f"list_events({bad!r})", lambda: store.list_events(bad, q)),
        (f"add_user({bad!r})", lambda: store.add_user(bad, {"ID": "zed", "flag": True})),
        (f"get_user({bad!r})", lambda: store.get_user(bad, "alice")),
        (f"update_user({bad!r})", lambda: store.update_user(bad, "alice", {"flag": False})),
        (f"delete_user({bad!r})", lambda: store.delete_user(bad, "alice")),
        (f"list_users({bad!r})", lambda: store.list_users(bad, q)),
        (f"upsert_subscriber({bad!r})", lambda: store.upsert_subscriber(bad, {"customer_no": "S9"})),
        (f"get_subscriber({bad!r})", lambda: store.get_subscriber(bad, "S1")),
        (f"delete_subscriber({bad!r})", lambda: store.delete_subscriber(bad, "S1")),
        (f"list_subscribers({bad!r})", lambda: store.list_subscribers(bad, q)),
    ] + (
        []
        if bad is None
        else [  # a measurement, exchange, weighing, registration, session or token without a tenant is allowed
            (
                f"record_measurements(tenant={bad!r})",
                lambda: store.record_measurements([measurement("1", 5.0), measurement("2", 6.0, tenant=bad)]),
            ),
            (f"log_exchange(tenant={bad!r})", lambda: store.log_exchange({**exchange(1.0), "tenant": bad})),
            (
                f"commit_weighing(tenant={bad!r})",
                lambda: store.commit_weighing({**weighing("C009", "arrival", 5.0), "tenant": bad}),
            ),
            (
                f"add_registration(tenant={bad!r})",
                lambda: store.add_registration({"ID": "zed", "flag": False, "tenant": bad}),
            ),
            (
                f"create_session(tenant={bad!r})",
                lambda: store.create_session({**session_doc("h9", "alice", 2e9), "tenant": bad}),
            ),
            (f"create_api_token(tenant={bad!r})", lambda: store.create_api_token(api_token("tok9", tenant=bad))),
            (f"list_api_tokens({bad!r})", lambda: store.list_api_tokens(bad, ListQuery())),
            (f"revoke_api_token(tenant={bad!r})", lambda: store.revoke_api_token("tok1", bad)),
        ]
    )


async def test_bad_tenants_are_refused(store):
    await seed(store)
    await expect_refused(store, [case for bad in BAD_TENANTS for case in tenant_cases(store, bad)])


# Every listing of core.store.listings.LISTINGS: how the contract writes one item and lists them, and the
# kind of value each declared field holds. A listing or field added to the table without an entry here
# fails the tests below.
async def write_api_token(store, item: dict) -> None:
    """Tokens are revoked by their own call, not written revoked."""
    await store.create_api_token(api_token(**{k: v for k, v in item.items() if k != "revoked"}))
    if item["revoked"]:
        assert await store.revoke_api_token(item["token_id"], None) is True


LISTING_WRITES = {
    "devices": (lambda store, doc: store.add_device(T, doc), lambda store, q: store.list_devices(T, q)),
    "readings": (lambda store, doc: store.insert_readings(T, [doc]), lambda store, q: store.list_readings(T, q)),
    "events": (lambda store, doc: store.add_event(T, doc), lambda store, q: store.list_events(T, q)),
    "exchanges": (lambda store, doc: store.log_exchange(doc), lambda store, q: store.list_exchanges(q)),
    "dead_letters": (lambda store, doc: store.add_dead_letter(doc), lambda store, q: store.list_dead_letters(q)),
    "weighings": (lambda store, doc: store.commit_weighing(doc), lambda store, q: store.search_weighings(q)),
    "users": (lambda store, doc: store.add_user(T, doc), lambda store, q: store.list_users(T, q)),
    "registrations": (lambda store, doc: store.add_registration(doc), lambda store, q: store.list_registrations(q)),
    "subscribers": (lambda store, doc: store.upsert_subscriber(T, doc), lambda store, q: store.list_subscribers(T, q)),
    "measurements": (lambda store, doc: store.record_measurements([doc]), lambda store, q: store.list_measurements(q)),
    "api_tokens": (lambda store, doc: write_api_token(store, doc), lambda store, q: store.list_api_tokens(None, q)),
}
FIELD_KINDS = {
    "devices": {
        "device_uid": "str",
        "meter_id": "str",
        "installer_id": "str",
        "flag": "bool",
        "customer_no": "str",
        "customer_name": "str",
        "status": "int",
        "last_timestamp": "int",
        "last_access": "clock",
    },
    "readings": {"device_uid": "str", "timestamp": "int"},
    "events": {"device_uid": "str", "event_type": "str", "event_status": "str", "event_time": "epoch"},
    "exchanges": {
        "ip": "str",
        "port": "int",
        "device_type": "str",
        "device_uid": "str",
        "tenant": "tenant",
        "at": "epoch",
        "datetime": "clock",
    },
    "dead_letters": {"device_type": "str", "ip": "str", "at": "epoch"},
    "weighings": {
        "cylinder_no": "str",
        "event_type": "str",
        "scale_id": "str",
        "tenant": "tenant",
        "committed_at": "epoch",
        "id": "assigned",
    },
    "users": {"ID": "str", "role": "str", "flag": "bool", "email": "str", "name": "str", "system_admin": "bool"},
    "registrations": {"flag": "bool", "category": "str", "tenant": "tenant", "regdate": "clock"},
    "subscribers": {
        "customer_no": "str",
        "customer_name": "str",
        "meter_id": "str",
        "subscriber_no": "str",
        "bind_device_id": "str",
        "binded": "bool",
    },
    "measurements": {"device_type": "str", "device_id": "str", "tenant": "tenant", "at": "epoch"},
    "api_tokens": {"tenant": "tenant", "name": "str", "revoked": "bool", "created_at": "epoch"},
}
# Items are written in order 0, 1, 2. The default sort field's values rank (1, 0, 2) and every other field's
# (0, 2, 1), so a backend that ignores a sort, falls back to its default order or to insertion order, or
# ignores the direction, returns another order.
DEFAULT_RANKS, OTHER_RANKS = (1, 0, 2), (0, 2, 1)
RECENT = float(int(time.time())) - 3600  # within every retention, so no purge or TTL interferes


def field_value(kind: str, name: str, rank: int):
    return {
        "str": lambda: f"{name}-{rank}",
        "int": lambda: 100 + rank,
        "bool": lambda: rank == 1,
        "epoch": lambda: RECENT + 60 * rank,
        "clock": lambda: f"2025-03-06 09:0{rank}:00",
        "tenant": lambda: f"gas_t{rank}",
        "assigned": lambda: rank,
    }[kind]()


def field_ranks(name: str, field: str) -> tuple[int, ...]:
    if FIELD_KINDS[name][field] == "assigned":
        return (0, 1, 2)  # weighing ids increase with each commit
    return DEFAULT_RANKS if field == LISTINGS[name].default_sort else OTHER_RANKS


def listing_value(name: str, field: str, index: int):
    """The value ``field`` of item ``index`` has in listing ``name``."""
    return field_value(FIELD_KINDS[name][field], field, field_ranks(name, field)[index])


def listing_item(name: str, index: int) -> dict:
    fields = {
        field: listing_value(name, field, index) for field, kind in FIELD_KINDS[name].items() if kind != "assigned"
    }
    if name == "readings":
        return {**fields, "counter_val": index}
    if name == "measurements":
        return {**fields, "values": {"n": index}}
    if name == "registrations":
        return {**fields, "ID": f"reg{index}", "n": index}
    if name == "api_tokens":
        return {**fields, "token_id": f"tok{index}"}
    return {**fields, "n": index}


def item_index(name: str, item: dict) -> int:
    return {
        "readings": lambda: item["counter_val"],
        "measurements": lambda: item["values"]["n"],
        "api_tokens": lambda: int(item["token_id"][3:]),
    }.get(name, lambda: item["n"])()


async def seed_listing(store, name: str) -> None:
    write, _call = LISTING_WRITES[name]
    for index in range(3):
        await write(store, listing_item(name, index))


async def listed(store, name: str, query: ListQuery) -> list[int]:
    """The indexes of the items listing ``name`` returns under ``query``."""
    _write, call = LISTING_WRITES[name]
    page = await call(store, query)
    indexes = [item_index(name, item) for item in page.items]
    assert page.total == len(indexes)
    return indexes


def expected(name: str, field: str, descending: bool, indexes=range(3)) -> list[int]:
    """Sorted by the field, ties in insertion order in the same direction (as both backends break them)."""
    return sorted(indexes, key=lambda i: (listing_value(name, field, i), i), reverse=descending)


def declared(kind: str) -> list[tuple[str, str]]:
    return [(listing.name, field) for listing in LISTINGS.values() for field in getattr(listing, kind)]


def test_every_declared_field_has_a_kind_here():
    for listing in LISTINGS.values():
        kinds = FIELD_KINDS[listing.name]
        assert set(listing.filters + listing.ranges + listing.sorts + listing.searches) <= kinds.keys(), listing.name
        assert listing.default_sort in kinds
        assert all(kinds[field] == "str" for field in listing.searches), listing.name
        assert f"searches {', '.join(listing.searches) or 'none'}" in listing.describe()
    assert LISTING_WRITES.keys() == FIELD_KINDS.keys() == LISTINGS.keys()


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("name, field", declared("sorts"))
async def test_every_listing_sorts_on_its_declared_fields(store, name, field, descending):
    await seed_listing(store, name)
    assert await listed(store, name, ListQuery(sort=field, descending=descending)) == expected(name, field, descending)


@pytest.mark.parametrize("name, field", declared("filters"))
async def test_every_listing_filters_on_its_declared_fields(store, name, field):
    await seed_listing(store, name)
    target = listing_value(name, field, field_ranks(name, field).index(1))
    matching = [i for i in range(3) if listing_value(name, field, i) == target]
    assert len(matching) < 3
    got = await listed(store, name, ListQuery(filters={field: target}))
    assert sorted(got) == matching


@pytest.mark.parametrize("name, field", declared("filters"))
async def test_every_listing_filters_one_of_values_on_its_declared_fields(store, name, field):
    await seed_listing(store, name)
    values = [listing_value(name, field, i) for i in range(3)]

    async def one_of(*wanted) -> list[int]:
        return sorted(await listed(store, name, ListQuery(any_of={field: wanted})))

    assert await one_of(values[0], values[2]) == [i for i in range(3) if values[i] in (values[0], values[2])]
    assert await one_of(values[1]) == sorted(await listed(store, name, ListQuery(filters={field: values[1]})))
    assert await one_of(None, values[1]) == await one_of(values[1])  # every seeded item has the field
    assert await one_of(None) == [] and await one_of() == []
    assert await one_of(*values) == [0, 1, 2]
    both = ListQuery(filters={field: values[0]}, any_of={field: (values[1],)})
    assert sorted(await listed(store, name, both)) == [i for i in range(3) if values[i] == values[0] == values[1]]


@pytest.mark.parametrize("name, field", declared("searches"))
async def test_every_listing_searches_its_declared_fields(store, name, field):
    await seed_listing(store, name)
    listing = LISTINGS[name]
    text = listing_value(name, field, field_ranks(name, field).index(1))[1:].upper()  # a part, in another case

    def holds(index: int, needle: str) -> bool:
        return any(needle.lower() in listing_value(name, f, index).lower() for f in listing.searches)

    matching = [i for i in range(3) if holds(i, text)]
    assert 0 < len(matching) < 3
    assert sorted(await listed(store, name, ListQuery(search=text))) == matching
    assert await listed(store, name, ListQuery(search=text + "-no such")) == []
    assert sorted(await listed(store, name, ListQuery(search=""))) == [0, 1, 2]
    assert sorted(await listed(store, name, ListQuery(search=f"{field}-"))) == [0, 1, 2]
    page = await LISTING_WRITES[name][1](store, ListQuery(search=f"{field}-", limit=1, offset=1))
    assert page.total == 3 and len(page.items) == 1


@pytest.mark.parametrize("name, field", declared("ranges"))
async def test_every_listing_ranges_over_its_declared_fields(store, name, field):
    await seed_listing(store, name)
    by_rank = sorted(range(3), key=lambda i: listing_value(name, field, i))
    low, high = (listing_value(name, field, i) for i in by_rank[1:])
    assert sorted(await listed(store, name, ListQuery(ranges={field: (low, high)}))) == [by_rank[1]]
    assert sorted(await listed(store, name, ListQuery(ranges={field: (low, None)}))) == sorted(by_rank[1:])
    assert await listed(store, name, ListQuery(ranges={field: (None, low)})) == [by_rank[0]]


@pytest.mark.parametrize("name", LISTINGS)
async def test_every_listing_has_its_declared_default_order(store, name):
    listing = LISTINGS[name]
    await seed_listing(store, name)
    assert await listed(store, name, ListQuery()) == expected(name, listing.default_sort, listing.default_descending)
    assert await listed(store, name, ListQuery(descending=True)) == expected(name, listing.default_sort, True)


@pytest.mark.parametrize("name", LISTINGS)
async def test_every_listing_refuses_fields_it_does_not_declare(store, name):
    listing = LISTINGS[name]
    _write, call = LISTING_WRITES[name]
    candidates = set(FIELD_KINDS[name]) | {"n", "no_such_field", "passwd"}
    queries = [ListQuery(filters={f: "x"}) for f in candidates - set(listing.filters)]
    queries += [ListQuery(any_of={f: ("x", None)}) for f in candidates - set(listing.filters)]
    queries += [] if listing.searches else [ListQuery(search="x")]
    queries += [ListQuery(ranges={f: (0, 1)}) for f in candidates - set(listing.ranges)]
    queries += [ListQuery(sort=f) for f in candidates - set(listing.sorts)]
    for query in queries:
        with pytest.raises(InvalidInput):
            await call(store, query)


def listing_calls(store):
    calls = {name: lambda q, call=call: call(store, q) for name, (_write, call) in LISTING_WRITES.items()}
    return {**calls, "browse": lambda q: store.browse(T, "device", q)}


async def test_bad_queries_are_refused(store):
    await seed(store)
    cases = []
    for name, call in listing_calls(store).items():
        listing = LISTINGS.get(name)
        field = listing.filters[0] if listing else "device_uid"
        range_field = listing.ranges[0] if listing and listing.ranges else None
        queries = [
            ListQuery(filters={field: {"$ne": None}}),
            ListQuery(filters={field: {"$gt": ""}}),
            ListQuery(filters={field: ["a", "b"]}),
            ListQuery(filters={field: "$where"}),
            ListQuery(filters={"$where": "sleep(1000)"}),
            ListQuery(filters={"$or": [{"a": 1}]}),
            ListQuery(sort="$natural"),
            ListQuery(limit=1001),
            ListQuery(limit=-1),
            ListQuery(offset=-5),
            ListQuery(limit=True),
            ListQuery(limit="10"),
            ListQuery(any_of={field: ({"$ne": None},)}),
            ListQuery(any_of={field: (["a"],)}),
            ListQuery(any_of={field: ("a", "$where")}),
            ListQuery(any_of={field: "ab"}),
            ListQuery(any_of={field: None}),
            ListQuery(any_of={field: {"a": 1}}),
            ListQuery(any_of={field: tuple(f"v{i}" for i in range(101))}),
            ListQuery(any_of={"$where": ("1",)}),
            ListQuery(any_of=[(field, ("a",))]),
            ListQuery(filters=[(field, "a")]),
            ListQuery(search=5),
            ListQuery(search={"$regex": ".*"}),
            ListQuery(search="x" * 101),
            ListQuery(search="a\x00b"),
        ]
        if name != "browse":
            queries += [
                ListQuery(filters={"passwd_or_anything": "x"}),
                ListQuery(any_of={"passwd_or_anything": ("x",)}),
                ListQuery(sort="no_such_field"),
                ListQuery(ranges={"no_such_field": (0, 1)}),
            ]
        if name == "browse" or not listing.searches:
            queries.append(ListQuery(search="x"))
        if range_field:
            queries += [
                ListQuery(ranges={range_field: ({"$gt": 0}, None)}),
                ListQuery(ranges={range_field: (0,)}),
                ListQuery(ranges={range_field: "0-1"}),
            ]
        cases += [(f"{name}({q!r})", lambda call=call, q=q: call(q)) for q in queries]
        cases.append((f"{name}(dict)", lambda call=call: call({"filters": {}})))
    await expect_refused(store, cases)


async def test_bad_documents_and_values_are_refused(store):
    await seed(store)
    r = reading("0000AB01", BASE_TS + 99, 1)
    row = reading_row(BASE_TS + 99, 1)
    cases = []
    for bad in BAD_DOCUMENTS:
        cases += [
            (f"add_device({bad!r})", lambda bad=bad: store.add_device(T, bad)),
            (f"update_device({bad!r})", lambda bad=bad: store.update_device(T, "0000AB01", bad)),
            (f"record_report(fields={bad!r})", lambda bad=bad: store.record_report(T, "0000AB01", bad, [r])),
            (
                f"record_report(event={bad!r})",
                lambda bad=bad: store.record_report(T, "0000AB01", {"battery": 1}, [r], bad or "none"),
            ),
            (f"insert_readings([{bad!r}])", lambda bad=bad: store.insert_readings(T, [r, bad])),
            (f"add_event({bad!r})", lambda bad=bad: store.add_event(T, bad)),
            (f"log_exchange({bad!r})", lambda bad=bad: store.log_exchange(bad)),
            (f"add_dead_letter({bad!r})", lambda bad=bad: store.add_dead_letter(bad)),
            (f"set_scale_latest({bad!r})", lambda bad=bad: store.set_scale_latest("S1", bad)),
            (f"commit_weighing({bad!r})", lambda bad=bad: store.commit_weighing(bad)),
            (f"add_user({bad!r})", lambda bad=bad: store.add_user(T, bad)),
            (f"update_user({bad!r})", lambda bad=bad: store.update_user(T, "alice", bad)),
            (f"add_registration({bad!r})", lambda bad=bad: store.add_registration(bad)),
            (f"create_session({bad!r})", lambda bad=bad: store.create_session(bad)),
            (f"upsert_subscriber({bad!r})", lambda bad=bad: store.upsert_subscriber(T, bad)),
            (
                f"record_measurements([{bad!r}])",
                lambda bad=bad: store.record_measurements([measurement("1", 5.0), bad]),
            ),
            (
                f"measurement values {bad!r}",
                lambda bad=bad: store.record_measurements([measurement("1", 5.0, bad or 5)]),
            ),
        ]
    for bad in BAD_INTS:
        cases += [
            (f"reading timestamp={bad!r}", lambda bad=bad: store.insert_readings(T, [r, {**r, "timestamp": bad}])),
            (f"reading counter_val={bad!r}", lambda bad=bad: store.insert_readings(T, [r, {**r, "counter_val": bad}])),
            (f"reading hour={bad!r}", lambda bad=bad: store.insert_readings(T, [r, {**r, "hour": bad}])),
            (
                f"record_report reading timestamp={bad!r}",
                lambda bad=bad: store.record_report(T, "0000AB01", {"battery": 1}, [{**r, "timestamp": bad}]),
            ),
        ]
        cases += [
            (
                f"reading row {name}={bad!r}",
                lambda bad=bad, at=at: store.record_report(
                    T, "0000AB01", {"battery": 1}, ReadingRows("0000AB01", [row, row[:at] + (bad,) + row[at + 1 :]])
                ),
            )
            for at, name in ((0, "timestamp"), (1, "counter_val"), (7, "week"))
        ]
        cases += [
            (
                f"event_code={bad!r}",
                lambda bad=bad: store.add_event(T, {"device_uid": "0000AB01", "event_time": 1, "event_code": bad}),
            ),
            (
                f"readings_for_usage start={bad!r}",
                lambda bad=bad: store.readings_for_usage(T, "0000AB01", bad, BASE_TS),
            ),
        ]
    for bad in BAD_NUMBERS:
        cases += [
            (
                f"event_time={bad!r}",
                lambda bad=bad: store.add_event(T, {"device_uid": "0000AB01", "event_time": bad, "event_code": 1}),
            ),
            (f"exchange at={bad!r}", lambda bad=bad: store.log_exchange({**exchange(1.0), "at": bad})),
            (f"get_session now={bad!r}", lambda bad=bad: store.get_session("h1", bad)),
            (
                f"measurement at={bad!r}",
                lambda bad=bad: store.record_measurements([measurement("1", 5.0), measurement("2", bad)]),
            ),
            (
                f"create_session expires_at={bad!r}",
                lambda bad=bad: store.create_session({**session_doc("h9", "alice", 1.0), "expires_at": bad}),
            ),
            (f"touch_session idle_expires_at={bad!r}", lambda bad=bad: store.touch_session("h1", bad, 1.0)),
            (f"touch_session last_seen={bad!r}", lambda bad=bad: store.touch_session("h1", 2e9, bad)),
            (f"purge_sessions before={bad!r}", lambda bad=bad: store.purge_sessions(bad)),
            (f"get_api_token now={bad!r}", lambda bad=bad: store.get_api_token("hash-tok1", bad)),
            (
                f"create_api_token created_at={bad!r}",
                lambda bad=bad: store.create_api_token(api_token("tok9", created_at=bad)),
            ),
            (f"note_login_failure at={bad!r}", lambda bad=bad: store.note_login_failure("account:bob", bad)),
            (f"count_login_failures since={bad!r}", lambda bad=bad: store.count_login_failures("account:bob", bad)),
        ]
        if bad is not None:  # None: not known, or never
            cases += [
                (
                    f"create_api_token expires_at={bad!r}",
                    lambda bad=bad: store.create_api_token(api_token("tok9", expires_at=bad)),
                ),
            ] + [
                (
                    f"create_session {name}={bad!r}",
                    lambda bad=bad, name=name: store.create_session({**session_doc("h9", "alice", 2e9), name: bad}),
                )
                for name in ("idle_expires_at", "last_seen", "created_at")
            ]
    cases += [
        ("reading with an unknown key", lambda: store.insert_readings(T, [r, {**r, "extra": 1}])),
        (
            "reading without counter_val",
            lambda: store.insert_readings(T, [r, {"device_uid": "0000AB01", "timestamp": 5}]),
        ),
        ("readings not a list", lambda: store.insert_readings(T, r)),
        ("reading row a list", lambda: store.insert_readings(T, ReadingRows("0000AB01", [row, list(row)]))),
        ("reading row too short", lambda: store.insert_readings(T, ReadingRows("0000AB01", [row, row[:2]]))),
        ("reading row too long", lambda: store.insert_readings(T, ReadingRows("0000AB01", [row, (*row, 1)]))),
        ("reading rows not a list", lambda: store.insert_readings(T, ReadingRows("0000AB01", row))),
        ("reading rows of a bad uid", lambda: store.insert_readings(T, ReadingRows("$where", [row]))),
        ("readings as a string", lambda: store.insert_readings(T, "0000AB01")),
        ("device without device_uid", lambda: store.add_device(T, {"meter_id": "1"})),
        ("user without ID", lambda: store.add_user(T, {"flag": True})),
        ("registration flag not bool", lambda: store.set_registration_flag("dave", "yes")),
        ("registration flag None", lambda: store.set_registration_flag("dave", None)),
        ("exchange recv operator", lambda: store.log_exchange({**exchange(1.0), "recv": {"$ne": None}})),
        ("device value not storable", lambda: store.add_device(T, {**device("0000AB09"), "when": object()})),
        ("device value a set", lambda: store.add_device(T, {**device("0000AB09"), "tags": {"a"}})),
        (
            "measurement with an unknown key",
            lambda: store.record_measurements([{**measurement("1", 5.0), "unit": "kWh"}]),
        ),
        (
            "measurement without values",
            lambda: store.record_measurements([{"device_type": "mbus", "device_id": "1", "at": 5.0}]),
        ),
        ("measurement value a set", lambda: store.record_measurements([measurement("1", 5.0, {"tags": {"a"}})])),
        (
            "measurement key $ inside a list",
            lambda: store.record_measurements([measurement("1", 5.0, {"l": [{"$bytes": "AA=="}]})]),
        ),
        ("measurements not a list", lambda: store.record_measurements(measurement("1", 5.0))),
        ("usage unknown bucket", lambda: store.usage(T, "0000AB01", "fortnight", 0, BASE_TS, KST)),
        ("usage bucket operator", lambda: store.usage(T, "0000AB01", {"$ne": None}, 0, BASE_TS, KST)),
        (
            "session role not a string",
            lambda: store.create_session({**session_doc("h9", "alice", 2e9), "role": {"$ne": None}}),
        ),
        ("session address bytes", lambda: store.create_session({**session_doc("h9", "alice", 2e9), "address": b"x"})),
        ("session kind a number", lambda: store.create_session({**session_doc("h9", "alice", 2e9), "kind": 5})),
        ("API token unknown key", lambda: store.create_api_token({**api_token("tok9"), "revoked": False})),
        ("API token without scopes", lambda: store.create_api_token({**api_token("tok9"), "scopes": None})),
        ("API token scopes a string", lambda: store.create_api_token(api_token("tok9", scopes="devices:read"))),
        (
            "API token 101 scopes",
            lambda: store.create_api_token(api_token("tok9", scopes=[f"s{i}" for i in range(101)])),
        ),
        ("API token name too long", lambda: store.create_api_token(api_token("tok9", name="n" * 201))),
        ("API token name with a newline", lambda: store.create_api_token(api_token("tok9", name="a\nb"))),
        ("API token not a mapping", lambda: store.create_api_token(["tok9"])),
        ("API token without token_hash", lambda: store.create_api_token({**api_token("tok9"), "token_hash": None})),
        ("login failure key too long", lambda: store.note_login_failure("k" * 201, time.time())),
        ("login failure key with a newline", lambda: store.note_login_failure("account:a\nb", time.time())),
        ("login failure key with a tab", lambda: store.count_login_failures("account:a\tb", 0.0)),
    ]
    await expect_refused(store, cases)


async def test_errors_are_store_errors(store):
    assert issubclass(InvalidInput, StoreError) and issubclass(Conflict, StoreError)
    await store.add_device(T, device("0000AB01"))
    with pytest.raises(StoreError):
        await store.add_device(T, device("0000AB01"))
