"""Local-time helpers. The original system stored local (KST, +09:00) strings and calendar fields computed
from a configured UTC offset, never from the host's time zone; so does specgate."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from core.errors import ConfigError

DEFAULT_TZ_OFFSET = 32400  # seconds east of UTC, as in the original configuration (KST)
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def tz_from_offset(offset: int | str) -> timezone:
    """A fixed-offset zone from seconds east of UTC (``32400``) or ``"+09:00"``/``"+0900"``."""
    if isinstance(offset, str):
        match = _OFFSET_RE.match(offset.strip())
        if not match:
            if offset.strip().lstrip("+-").isdigit():
                return tz_from_offset(int(offset))
            raise ConfigError(f"time zone offset {offset!r} is not like +09:00 or 32400")
        sign = -1 if match.group(1) == "-" else 1
        offset = sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)
    if not isinstance(offset, int) or isinstance(offset, bool) or abs(offset) >= 24 * 3600:
        raise ConfigError(f"time zone offset {offset!r} must be seconds between -86399 and 86399")
    return timezone(timedelta(seconds=offset))


def local_string(epoch: float, tz: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in ``tz`` (the original ``last_access``/``misc_data.datetime`` format)."""
    return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S")


def iso(epoch: float, tz: tzinfo) -> str:
    """ISO 8601 with the offset, seconds precision: ``2025-12-18T12:00:00+09:00``."""
    return datetime.fromtimestamp(int(epoch), tz).isoformat()


#: the calendar fields of a ``data`` reading, in the order :func:`calendar_values` gives them
CALENDAR_FIELDS = ("year", "month", "day", "hour", "wday", "week")


def calendar_values(epoch: int, tz: tzinfo) -> tuple[int, ...]:
    """The original ``data`` calendar fields' values, in :data:`CALENDAR_FIELDS` order: year, month, day,
    hour, wday (0 = Sunday), week (ISO)."""
    moment = datetime.fromtimestamp(epoch, tz)
    return (moment.year, moment.month, moment.day, moment.hour, (moment.weekday() + 1) % 7, moment.isocalendar().week)


def calendar_fields(epoch: int, tz: tzinfo) -> dict[str, int]:
    """The original ``data`` calendar fields: ``{year, month, day, hour, wday, week}``."""
    return dict(zip(CALENDAR_FIELDS, calendar_values(epoch, tz), strict=True))
