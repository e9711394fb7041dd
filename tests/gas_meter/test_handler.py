"""The handler against a real store (both backends): the Outcome, and what its store step looks up, writes
and replies."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from gas_meter_helpers import NOW, NOW_CALENDAR, NOW_LOCAL, TENANT, UID, hourly_slots, make_session, provision

from core.errors import FrameError
from core.store import ListQuery, Store
from plugins.gas_meter.handler import GasMeterHandler


@dataclass
class Message:
    values: dict
    message: str = "report"
    flags: list = field(default_factory=list)
    raw: bytes = b""


def report(eid: str, uid: str = UID, slots=(), event_code=0, seconds=0) -> Message:
    counts = [{"ts": ts, "count": count} for ts, count in slots]
    counts += [{"ts": 0, "count": 0}] * (24 - len(counts))
    return Message(
        {
            "eid": eid,
            "uid": uid,
            "counts": counts,
            "battery": 61,
            "uptime": 999,
            "event_code": event_code,
            "seconds_per_rotation": seconds,
        }
    )


async def readings(store, uid=UID):
    page = await store.list_readings(TENANT, ListQuery(filters={"device_uid": uid}, sort="timestamp", limit=1000))
    return page.items


HANDLER = GasMeterHandler()


async def test_normal_report_is_committed_only_by_the_outcome(store):
    await provision(store)
    slots = hourly_slots(NOW, first_count=100, n=24)
    outcome = HANDLER.handle(make_session(store), report("normal", slots=slots))
    assert outcome.reply_message == "reply" and outcome.close
    assert outcome.reply is None  # the reply is decided with the lookup, in the store step
    assert await readings(store) == []  # nothing is written before the runtime runs the store step
    await outcome.store(store)
    assert outcome.reply["rc"] == {"ts": True, "minmax": True} and outcome.reply["count"] == 100 + 23 * 7
    device = await store.get_device(TENANT, UID)
    assert {k: device[k] for k in ("battery", "uptime", "last_access", "last_timestamp", "last_count")} == {
        "battery": 61,
        "uptime": 999,
        "last_access": NOW_LOCAL,
        "last_timestamp": NOW,
        "last_count": 100 + 23 * 7,
    }
    rows = await readings(store)
    assert [r["timestamp"] for r in rows] == sorted(ts for ts, _ in slots)
    assert {k: rows[-1][k] for k in ("counter_val", *NOW_CALENDAR)} == {"counter_val": 261, **NOW_CALENDAR}


async def test_overlapping_windows_store_each_reading_once(store):
    await provision(store)
    first = hourly_slots(NOW - 3600, first_count=100)
    second = hourly_slots(NOW, first_count=107)
    for slots in (first, second, second):
        outcome = HANDLER.handle(make_session(store), report("normal", slots=slots))
        await outcome.store(store)
    rows = await readings(store)
    assert len(rows) == 25
    assert len({r["timestamp"] for r in rows}) == 25


async def test_unknown_and_inactive_devices_are_told_to_stop_and_nothing_is_stored(store):
    await provision(store, uid="0000AAAA", flag=False)
    for uid in (UID, "0000AAAA"):
        session = make_session(store)
        outcome = HANDLER.handle(session, report("normal", uid=uid, slots=[(NOW, 5)]))
        await outcome.store(store)
        assert outcome.reply["ts_next"] == 0xFFFFFFFF and outcome.reply["rc"] == {"ts": True, "minmax": True}
    assert await store.get_device_route(UID) is None
    device = await store.get_device(TENANT, "0000AAAA")
    assert "last_access" not in device and await readings(store, "0000AAAA") == []


async def test_init_sets_initial_access_and_last_count(store):
    await provision(store, initial_count=777)
    outcome = HANDLER.handle(make_session(store), report("init"))
    await outcome.store(store)
    assert (outcome.reply["count"], outcome.reply["ts_next"]) == (777, 0)
    device = await store.get_device(TENANT, UID)
    assert (device["initial_access"], device["last_count"]) == (NOW_LOCAL, 777)
    assert await readings(store) == []


async def test_event_is_recorded_with_the_device_update(store):
    await provision(store)
    outcome = HANDLER.handle(
        make_session(store), report("event", slots=[(NOW, 50)], event_code="rotation_speed", seconds=12)
    )
    await outcome.store(store)
    events = (await store.list_events(TENANT, ListQuery(filters={"device_uid": UID}))).items
    assert len(events) == 1
    assert {k: events[0][k] for k in ("event_time", "event_code", "event_type", "seconds_per_rotation")} == {
        "event_time": NOW,
        "event_code": 2,
        "event_type": "rotation_speed_violation",
        "seconds_per_rotation": 12,
    }
    assert (await store.get_device(TENANT, UID))["last_count"] == 50
    assert len(await readings(store)) == 1


@pytest.mark.parametrize("uid", ["d4245a98", "D4245A9", "$ne00000", "ZZZZZZZZ"])
async def test_a_uid_that_is_not_8_hex_digits_is_a_bad_frame(store, uid):
    with pytest.raises(FrameError) as info:
        HANDLER.handle(make_session(store), report("normal", uid=uid))
    assert info.value.path == "report -> uid"


async def test_checkin_spread_from_the_configuration_moves_ts_next_to_the_device_phase(store):
    from gas_meter_helpers import make_config

    from plugins.gas_meter.checkin import device_phase

    await provision(store)
    config = make_config()
    config.devices["gas_meter"] = {"checkin_spread": True}
    outcome = HANDLER.handle(make_session(store, config), report("normal", slots=[(NOW, 5)]))
    await outcome.store(store)
    ts_next = outcome.reply["ts_next"]
    assert ts_next % 43200 == device_phase(UID, 43200)
    assert NOW + 21600 <= ts_next < NOW + 21600 + 43200
    plain = HANDLER.handle(make_session(store), report("normal", slots=[(NOW, 5)]))
    await plain.store(store)
    assert plain.reply["ts_next"] == NOW + 43200


class BrokenRouteStore:
    """A store whose route names a tenant the store refuses (an administration mistake)."""

    record_routed_report = Store.record_routed_report

    def __init__(self):
        self.writes = 0

    async def get_routed_device(self, uid):
        from core.errors import InvalidInput

        raise InvalidInput("tenant must match ^[A-Za-z0-9_]{1,63}$, got 'no such/tenant'")

    async def record_report(self, *args, **kwargs):
        self.writes += 1


async def test_an_unusable_route_gets_no_reply_rather_than_a_stop(caplog):
    store = BrokenRouteStore()
    outcome = HANDLER.handle(make_session(store), report("normal", slots=[(NOW, 5)]))
    await outcome.store(store)
    assert outcome.reply is None and outcome.close
    assert store.writes == 0
    assert "unusable route" in caplog.text and UID in caplog.text
