"""The pure decision for one packet: reply values, device fields, readings and events."""

from __future__ import annotations

import pytest
from gas_meter_helpers import DEVICE, KST, NOW, NOW_CALENDAR, NOW_LOCAL, UID, hourly_slots

from core.api import ReadingRows, calendar_fields, tz_from_offset
from core.errors import ConfigError, FrameError
from plugins.gas_meter.checkin import CheckinScheduler, device_phase
from plugins.gas_meter.handler import (
    _plain_slots,
    newest_count,
    plan_report,
    slot_calendar,
    stop_plan,
    valid_slots,
)
from plugins.gas_meter.options import GasMeterOptions, options_for

OPTIONS = GasMeterOptions(tz=KST)


def docs(rows: list[tuple[int, ...]]) -> list[dict]:
    """A plan's reading rows as the documents the store keeps of them."""
    return ReadingRows(UID, rows).docs()


def values(eid: str, slots=(), battery=87, uptime=123456, event_code=0, seconds=0) -> dict:
    counts = [{"ts": ts, "count": count} for ts, count in slots]
    counts += [{"ts": 0, "count": 0}] * (24 - len(counts))
    return {
        "eid": eid,
        "uid": UID,
        "counts": counts,
        "battery": battery,
        "uptime": uptime,
        "event_code": event_code,
        "seconds_per_rotation": seconds,
    }


def test_normal_report_replies_and_updates_the_device_from_the_newest_slot():
    slots = hourly_slots(NOW, first_count=10000, n=3)
    plan = plan_report(UID, values("normal", slots), DEVICE, NOW, OPTIONS)
    assert plan.reply == {
        "rc": {"ts": True, "minmax": True},
        "uid": UID,
        "ts_now": NOW,
        "ts_next": NOW + 43200,
        "count": 10014,
        "min": 10,
        "max": 600,
        "host": "192.0.2.10",
        "port": 5004,
    }
    assert plan.device_fields == {
        "battery": 87,
        "uptime": 123456,
        "last_access": NOW_LOCAL,
        "last_timestamp": NOW,
        "last_count": 10014,
    }
    assert docs(plan.readings) == [
        {
            "device_uid": UID,
            "timestamp": NOW,
            "counter_val": 10014,
            **NOW_CALENDAR,
        },
        {
            "device_uid": UID,
            "timestamp": NOW - 3600,
            "counter_val": 10007,
            "year": 2025,
            "month": 3,
            "day": 6,
            "hour": 0,
            "wday": 4,
            "week": 10,
        },
        {
            "device_uid": UID,
            "timestamp": NOW - 7200,
            "counter_val": 10000,
            "year": 2025,
            "month": 3,
            "day": 5,
            "hour": 23,
            "wday": 3,
            "week": 10,
        },
    ]
    assert plan.event is None and plan.warnings == []


def test_the_slot_with_the_largest_timestamp_wins_even_out_of_order():
    slots = [(NOW - 3600, 20), (NOW, 30), (NOW - 7200, 10)]
    plan = plan_report(UID, values("normal", slots), DEVICE, NOW, OPTIONS)
    assert (plan.device_fields["last_timestamp"], plan.device_fields["last_count"]) == (NOW, 30)
    assert plan.reply["count"] == 30
    assert newest_count(values("normal", slots)["counts"]) == 30


def test_calendar_fields_of_a_slot_are_computed_once_and_stay_those_of_its_zone():
    slot_calendar.cache_clear()
    slots = hourly_slots(NOW, first_count=100, n=24, per_hour=3)
    first = plan_report(UID, values("normal", slots), DEVICE, NOW, OPTIONS).readings
    following = hourly_slots(NOW + 3600, first_count=103, n=24, per_hour=3)
    second = plan_report(UID, values("normal", following), DEVICE, NOW + 3600, OPTIONS).readings
    # the next report repeats 23 of the hours: one new calendar computation, 23 taken from the first
    assert slot_calendar.cache_info().misses == 25 and slot_calendar.cache_info().hits == 23
    for reading in docs(first + second):
        assert reading == {
            "device_uid": UID,
            "timestamp": reading["timestamp"],
            "counter_val": reading["counter_val"],
            **calendar_fields(reading["timestamp"], KST),
        }
    # another zone's hour is its own entry
    utc = GasMeterOptions(tz=tz_from_offset(0))
    other = docs(plan_report(UID, values("normal", slots), DEVICE, NOW, utc).readings)
    assert [r["hour"] for r in other] == [calendar_fields(ts, tz_from_offset(0))["hour"] for ts, _ in slots]
    assert [r["hour"] for r in other] != [r["hour"] for r in docs(first)]


def test_slots_that_do_not_fit_int32_are_left_out_and_reported():
    warnings: list[str] = []
    counts = [
        {"ts": 2**31, "count": 5},
        {"ts": NOW, "count": 2**32 - 1},
        {"ts": NOW - 3600, "count": 4},
        {"ts": NOW - 3600, "count": 4},
        {"ts": 0, "count": 0},
    ]
    assert valid_slots(counts, warnings) == [(NOW - 3600, 4)]
    assert len(warnings) == 2 and "slot 0" in warnings[0] and "slot 1" in warnings[1]


@pytest.mark.parametrize(
    "table",
    [
        [(NOW, 5), (NOW - 3600, 4)],
        [(NOW, 5), (0, 0), (NOW - 3600, 4), (0, 0)],
        [(0, 0), (0, 0)],
        [],
        [(NOW, 5), (NOW, 6)],  # a timestamp twice: the first is kept
        [(NOW, 5), (NOW - 3600, 2**31)],  # a count beyond int32
        [(NOW, 5), (2**31, 1)],
        [(NOW, 5), (-1, 1)],
        [(NOW, -1)],
        [(NOW, 5.0), (NOW - 3600, 4)],  # an integral float, as another decoder may give
        [(float(NOW), 5)],
        [(NOW, "5")],
        [(NOW, True)],
        [(0.0, 0), (NOW, 5)],
        [(False, 0), (NOW, 5)],
    ],
)
def test_a_table_checked_as_a_whole_gives_the_slots_of_one_checked_slot_by_slot(table):
    counts = [{"ts": ts, "count": count} for ts, count in table]
    slot_by_slot: list[str] = []
    expected = valid_slots(tuple(counts), slot_by_slot)  # not a list: the slot-by-slot path
    warnings: list[str] = []
    assert valid_slots(counts, warnings) == expected and warnings == slot_by_slot
    assert all(type(ts) is int and type(count) is int for ts, count in expected)


def test_a_decoded_table_with_empty_slots_takes_the_whole_table_check():
    counts = [{"ts": NOW, "count": 5}, {"ts": 0, "count": 0}, {"ts": NOW - 3600, "count": 4}]
    assert _plain_slots(counts) == [(NOW, 5), (NOW - 3600, 4)]
    assert _plain_slots([*counts, {"ts": NOW, "count": 6}]) is None  # a timestamp twice: slot by slot


def test_the_reply_count_is_the_table_newest_even_when_that_slot_cannot_be_stored():
    # the reply's count is a u32 of the newest slot; the store keeps int32 slots only
    report = {**values("normal"), "counts": [{"ts": NOW + 60, "count": 2**32 - 2}, {"ts": NOW, "count": 7}]}
    plan = plan_report(UID, report, DEVICE, NOW, OPTIONS)
    assert plan.reply["count"] == 2**32 - 2
    assert plan.device_fields["last_count"] == 7 and len(plan.warnings) == 1
    kept = {**values("normal"), "counts": [{"ts": NOW - 60, "count": 9}, {"ts": NOW, "count": 7}]}
    assert plan_report(UID, kept, DEVICE, NOW, OPTIONS).reply["count"] == 7


def test_event_report_records_the_event_and_updates_the_device_like_a_normal_one():
    slots = hourly_slots(NOW, n=2)
    plan = plan_report(UID, values("event", slots, event_code="magnetic", seconds=42), DEVICE, NOW, OPTIONS)
    assert plan.reply["rc"] == {"ts": True, "minmax": True}
    assert plan.event == {
        "event_id": f"{UID}-E0-1-{NOW}-123456",
        "device_uid": UID,
        "event_time": NOW,
        "event_code": 1,
        "event_type": "tamper_detected",
        "event_level": "critical",
        "event_status": "active",
        "event_message": "external magnetic field detected (tamper)",
        "event_value": 42,
        "seconds_per_rotation": 42,
        "customer_no": "S32649713",
    }
    assert len(plan.readings) == 2 and plan.device_fields["last_timestamp"] == NOW


def test_the_event_id_comes_from_the_packet_so_a_resend_names_the_same_event():
    slots = hourly_slots(NOW, n=3)
    packet = values("event", slots, event_code="magnetic", uptime=5000)
    first = plan_report(UID, packet, DEVICE, NOW, OPTIONS).event
    resent = plan_report(UID, packet, DEVICE, NOW + 90, OPTIONS).event  # the gateway's clock moved on
    assert first["event_id"] == resent["event_id"] == f"{UID}-E0-1-{NOW}-5000"
    assert first["event_time"] != resent["event_time"]
    # another event of the same hour (the meter's uptime moved), another code, another hour: other ids
    others = [
        values("event", slots, event_code="magnetic", uptime=5060),
        values("event", slots, event_code="rotation_speed", uptime=5000),
        values("event", hourly_slots(NOW + 3600, n=3), event_code="magnetic", uptime=5000),
    ]
    ids = {plan_report(UID, other, DEVICE, NOW, OPTIONS).event["event_id"] for other in others}
    assert len(ids) == 3 and first["event_id"] not in ids


@pytest.mark.parametrize(
    "code, number, kind", [("rotation_speed", 2, "rotation_speed_violation"), (7, 7, "unknown_event")]
)
def test_other_event_codes_are_kept(code, number, kind):
    plan = plan_report(UID, values("event", event_code=code), DEVICE, NOW, OPTIONS)
    assert (plan.event["event_code"], plan.event["event_type"]) == (number, kind)


def test_init_pushes_the_initial_count_and_asks_for_a_report_now():
    plan = plan_report(UID, values("init"), DEVICE, NOW, OPTIONS)
    assert plan.reply["rc"] == {"ts": True, "minmax": True, "count": True}
    assert (plan.reply["count"], plan.reply["ts_next"]) == (5000, 0)
    assert plan.device_fields == {
        "battery": 87,
        "uptime": 123456,
        "last_access": NOW_LOCAL,
        "initial_access": NOW_LOCAL,
        "last_count": 5000,
    }
    assert plan.readings == [] and plan.event is None


def test_timestamp_packet_gets_a_time_sync_reply_and_touches_last_access_only():
    plan = plan_report(UID, values("timestamp", hourly_slots(NOW, n=2)), DEVICE, NOW, OPTIONS)
    assert plan.reply["rc"] == {"ts": True}
    assert plan.reply["ts_next"] == NOW + 43200
    assert plan.readings == [] and "last_count" not in plan.device_fields


def test_stop_reply_for_unknown_and_inactive_devices():
    unknown = stop_plan(UID, values("normal", [(NOW, 99)]), NOW)
    assert unknown.reply == {
        "rc": {"ts": True, "minmax": True},
        "uid": UID,
        "ts_now": NOW,
        "ts_next": 0xFFFFFFFF,
        "count": 99,
        "min": 0,
        "max": 0,
        "host": "0.0.0.0",
        "port": 0,
    }
    assert unknown.device_fields is None and unknown.readings == []
    inactive = stop_plan(UID, values("normal"), NOW, {**DEVICE, "flag": False, "minimum": None})
    assert inactive.reply["rc"] == {"ts": True, "minmax": True}
    assert (inactive.reply["host"], inactive.reply["port"], inactive.reply["min"]) == ("192.0.2.10", 5004, 0)


def test_unusable_device_settings_never_crash_and_are_reported():
    device = {**DEVICE, "server_ip": "not-an-ip", "server_port": "x", "ref_interval": None, "minimum": -1}
    plan = plan_report(UID, values("normal", [(NOW, 1)]), device, NOW, OPTIONS)
    assert plan.reply["rc"] == {"ts": True}
    assert (plan.reply["host"], plan.reply["port"], plan.reply["min"], plan.reply["max"]) == ("0.0.0.0", 0, 0, 0)
    assert plan.reply["ts_next"] == NOW + OPTIONS.default_ref_interval
    assert len(plan.warnings) == 4
    assert plan.readings and plan.device_fields["last_count"] == 1


def test_integral_floats_and_digit_strings_from_other_clients_are_accepted():
    device = {**DEVICE, "ref_interval": 3600.0, "minimum": "5", "server_port": 6000.0}
    plan = plan_report(UID, values("normal"), device, NOW, OPTIONS)
    assert (plan.reply["ts_next"], plan.reply["min"], plan.reply["port"]) == (NOW + 3600, 5, 6000)
    assert plan.warnings == []


def test_init_without_initial_count_clears_the_count_bit():
    plan = plan_report(UID, values("init"), {**DEVICE, "initial_count": None}, NOW, OPTIONS)
    assert plan.reply["rc"] == {"ts": True, "minmax": True}
    assert "last_count" not in plan.device_fields and plan.warnings


def test_unknown_eid_is_a_frame_error():
    with pytest.raises(FrameError) as info:
        plan_report(UID, values("bogus"), DEVICE, NOW, OPTIONS)
    assert info.value.path == "report -> eid"


def test_checkin_spread_keeps_each_device_on_its_own_phase():
    scheduler = CheckinScheduler(spread=True, min_gap=0.5)
    interval = 43200
    for uid in ("D4245A98", "00000001", "FFFFFFFF"):
        first = scheduler.next_report(uid, NOW, interval)
        assert NOW + interval // 2 <= first < NOW + interval // 2 + interval
        assert first % interval == device_phase(uid, interval)
        later = scheduler.next_report(uid, first + 17, interval)
        assert later % interval == first % interval and later - first >= interval // 2
    phases = {device_phase(f"{i:08X}", interval) // 3600 for i in range(400)}
    assert phases == set(range(12))  # 400 devices land in every hour of the interval


def test_checkin_is_off_by_default_and_options_come_from_config_then_listener():
    assert CheckinScheduler().next_report(UID, NOW, 600) == NOW + 600
    from core.config import Config

    config = Config(tz_offset=0, devices={"gas_meter": {"checkin_spread": True, "default_ref_interval": 60}})
    options = options_for(config, {"checkin_min_gap": "0.25", "on_bad_frame": "close"})
    assert options.checkin == CheckinScheduler(spread=True, min_gap=0.25)
    assert options.default_ref_interval == 60 and options.tz.utcoffset(None).total_seconds() == 0
    assert options_for(config, {"checkin_spread": "false"}).checkin.spread is False


@pytest.mark.parametrize(
    "bad", [{"checkin_spread": "maybe"}, {"checkin_min_gap": 2}, {"default_ref_interval": 0}, {"checkin_sprad": True}]
)
def test_bad_options_name_the_key(bad):
    with pytest.raises(ConfigError) as info:
        GasMeterOptions.from_mapping(bad)
    assert next(iter(bad)) in str(info.value)


def test_the_declared_listener_and_a_bad_option_failing_at_start_up():
    from core.config import Config
    from core.gateway.runtime import declared_listeners
    from core.plugins import get_plugin_manager

    pm = get_plugin_manager(installed=False)
    gas = [entry for entry in declared_listeners(Config(), pm) if entry.device_type == "gas_meter"]
    assert [(entry.port, entry.max_frame_length) for entry in gas] == [(5004, 256)]
    assert (gas[0].on_bad_frame, gas[0].log_exchanges, gas[0].replace_same_peer, gas[0].frame_timeout) == (
        "close",
        True,
        False,
        30.0,
    )
    assert gas[0].options == {}
    with pytest.raises(ConfigError, match="checkin_spread"):
        declared_listeners(Config(devices={"gas_meter": {"checkin_spread": "often"}}), pm)
