"""Consumption per calendar bucket from cumulative meter counts, shared by every backend.

A meter reports cumulative counts; the usage of an interval is the difference between two consecutive
readings and belongs to the bucket of the later one. When the count goes down (the meter was
re-initialised) the consumption across the reset is unknown: that interval contributes 0 and the bucket
counts one ``resets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from core.errors import InvalidInput

USAGE_BUCKETS = ("hour", "day", "week", "month", "year")

_Bucket = tuple[str, datetime, datetime]


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def bucket_of(epoch: int, bucket: str, tz: tzinfo) -> _Bucket:
    """``(label, start, end)`` of the ``bucket`` containing ``epoch`` in ``tz``."""
    moment = datetime.fromtimestamp(epoch, tz)
    if bucket == "hour":
        start = datetime(moment.year, moment.month, moment.day, moment.hour, tzinfo=tz)
        end = datetime.fromtimestamp(start.timestamp() + 3600, tz)
        return start.strftime("%Y-%m-%d %H:00"), start, end
    if bucket == "day":
        day = moment.date()
        return day.isoformat(), _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
    if bucket == "week":
        iso = moment.isocalendar()
        monday = moment.date() - timedelta(days=iso.weekday - 1)
        return f"{iso.year}-W{iso.week:02d}", _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)
    if bucket == "month":
        first = date(moment.year, moment.month, 1)
        following = date(moment.year + moment.month // 12, moment.month % 12 + 1, 1)
        return f"{moment.year:04d}-{moment.month:02d}", _midnight(first, tz), _midnight(following, tz)
    if bucket == "year":
        return f"{moment.year:04d}", _midnight(date(moment.year, 1, 1), tz), _midnight(date(moment.year + 1, 1, 1), tz)
    raise _unknown_bucket(bucket)


def check_bucket(bucket: Any) -> str:
    """``bucket`` when it names one of :data:`USAGE_BUCKETS`, else ``InvalidInput``."""
    if not isinstance(bucket, str) or bucket not in USAGE_BUCKETS:
        raise _unknown_bucket(bucket)
    return bucket


def _unknown_bucket(bucket: Any) -> InvalidInput:
    return InvalidInput(f"unknown usage bucket {bucket!r}; expected one of {', '.join(USAGE_BUCKETS)}")


def aggregate_usage(
    readings: Iterable[Mapping[str, Any]],
    bucket: str,
    start: int | None,
    end: int | None,
    tz: tzinfo,
) -> list[dict[str, Any]]:
    """One dict per bucket that has readings in ``[start, end)``, in time order.

    ``readings`` carry ``timestamp`` and ``counter_val``; one reading before ``start`` (when ``start`` is
    given) serves as the baseline of the first interval and is not counted itself.
    """
    check_bucket(bucket)
    ordered = sorted(readings, key=lambda r: r["timestamp"])
    buckets: dict[str, dict[str, Any]] = {}
    previous: int | None = None
    for row in ordered:
        timestamp, count = int(row["timestamp"]), int(row["counter_val"])
        if start is not None and timestamp < start:
            previous = count
            continue
        if end is not None and timestamp >= end:
            break
        label, bucket_start, bucket_end = bucket_of(timestamp, bucket, tz)
        entry = buckets.get(label)
        if entry is None:
            entry = buckets[label] = {
                "label": label,
                "start": int(bucket_start.timestamp()),
                "end": int(bucket_end.timestamp()),
                "usage": 0,
                "first_count": count,
                "last_count": count,
                "readings": 0,
                "resets": 0,
            }
        if previous is not None:
            if count < previous:
                entry["resets"] += 1
            else:
                entry["usage"] += count - previous
        entry["last_count"] = count
        entry["readings"] += 1
        previous = count
    return list(buckets.values())
