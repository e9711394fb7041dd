"""aggregate_usage on its own: buckets, baselines, resets and time zones."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import InvalidInput
from core.store.usage import aggregate_usage, bucket_of
from core.timeutil import tz_from_offset

KST = tz_from_offset("+09:00")
UTC = tz_from_offset(0)


def at(text: str, tz=KST) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp())


def rows(*points):
    return [{"timestamp": ts, "counter_val": count} for ts, count in points]


def test_without_start_the_first_reading_is_only_a_baseline():
    out = aggregate_usage(rows((at("2025-03-06 10:00"), 100), (at("2025-03-06 11:00"), 130)), "day", None, None, KST)
    assert out == [
        {
            "label": "2025-03-06",
            "start": at("2025-03-06 00:00"),
            "end": at("2025-03-07 00:00"),
            "usage": 30,
            "first_count": 100,
            "last_count": 130,
            "readings": 2,
            "resets": 0,
        }
    ]


def test_baseline_before_start_and_end_is_exclusive():
    points = rows((at("2025-03-05 23:00"), 90), (at("2025-03-06 01:00"), 100), (at("2025-03-07 00:00"), 150))
    out = aggregate_usage(points, "day", at("2025-03-06 00:00"), at("2025-03-07 00:00"), KST)
    assert [(b["label"], b["usage"], b["readings"]) for b in out] == [("2025-03-06", 10, 1)]


def test_reset_contributes_nothing_and_is_counted():
    points = rows(
        (at("2025-03-06 01:00"), 500),
        (at("2025-03-06 02:00"), 520),
        (at("2025-03-06 03:00"), 4),
        (at("2025-03-06 04:00"), 10),
    )
    out = aggregate_usage(points, "hour", None, None, KST)
    assert [(b["label"], b["usage"], b["resets"]) for b in out] == [
        ("2025-03-06 01:00", 0, 0),
        ("2025-03-06 02:00", 20, 0),
        ("2025-03-06 03:00", 0, 1),
        ("2025-03-06 04:00", 6, 0),
    ]


def test_the_same_instant_falls_in_different_days_per_zone():
    ts = at("2025-03-06 23:30", UTC)
    assert bucket_of(ts, "day", UTC)[0] == "2025-03-06"
    assert bucket_of(ts, "day", KST)[0] == "2025-03-07"


def test_week_labels_follow_iso_years():
    assert bucket_of(at("2024-12-30 12:00"), "week", KST)[0] == "2025-W01"
    assert bucket_of(at("2021-01-03 12:00"), "week", KST)[0] == "2020-W53"
    label, start, end = bucket_of(at("2025-03-09 23:59"), "week", KST)
    assert label == "2025-W10" and start.isoformat() == "2025-03-03T00:00:00+09:00"
    assert (end - start).days == 7


def test_month_and_year_bounds():
    label, start, end = bucket_of(at("2025-12-31 23:59"), "month", KST)
    assert label == "2025-12" and end.isoformat() == "2026-01-01T00:00:00+09:00"
    label, start, end = bucket_of(at("2024-02-29 12:00"), "year", KST)
    assert label == "2024" and start.isoformat() == "2024-01-01T00:00:00+09:00"


def test_day_buckets_in_a_zone_with_daylight_saving():
    berlin = ZoneInfo("Europe/Berlin")
    label, start, end = bucket_of(at("2025-03-30 12:00", berlin), "day", berlin)
    assert label == "2025-03-30" and end.timestamp() - start.timestamp() == 23 * 3600


def test_unknown_bucket():
    for bucket in ("fortnight", None, {"$ne": None}, "Day"):
        with pytest.raises(InvalidInput):
            aggregate_usage([], bucket, None, None, KST)


def test_empty_readings_give_no_buckets():
    assert aggregate_usage([], "month", 0, 10, KST) == []
