"""What an NMEA sentence means: its checksum, and the position fix it reports as a measurement."""

from __future__ import annotations

from decimal import Decimal
from functools import reduce
from typing import Any

from core.api import Decoded, FrameError

DEVICE_TYPE = "nmea_gps"
#: 1e-10 degree is about 0.01 mm: finer than any receiver, and keeps minutes / 60 finite
DEGREE_PLACES = Decimal("1e-10")


def checksum(sentence: bytes) -> str:
    """The XOR of every byte between ``$`` and ``*``, as two upper-case hex digits."""
    body = sentence[1 : sentence.rindex(b"*")] if sentence.startswith(b"$") and b"*" in sentence else b""
    return f"{reduce(lambda acc, byte: acc ^ byte, body, 0):02X}"


def check_checksum(frame: bytes, message: Decoded) -> None:
    """Raise ``FrameError`` when the sentence's ``*hh`` is not the XOR of its characters."""
    computed = checksum(frame)
    given = message.values["checksum"]
    if given != computed:
        raise FrameError(
            f"NMEA checksum is {given}, the sentence's characters give {computed}",
            path=f"{message.message} -> checksum",
            expected=computed,
            found=given,
        )


def degrees(whole: int, minutes: Decimal, hemisphere: str | None) -> Decimal:
    """``ddmm.mmmm`` split into degrees and minutes, as signed decimal degrees (south and west negative)."""
    value = (whole + minutes / 60).quantize(DEGREE_PLACES)
    return -value if hemisphere in ("S", "W") else value


def utc_time(values: dict[str, Any]) -> str | None:
    """``hh:mm:ss`` with the fraction of a second the receiver sent (``09:27:50.000``)."""
    if values.get("hour") is None:
        return None
    seconds = f"{values['second']:f}"
    return f"{values['hour']:02d}:{values['minute']:02d}:{'0' if values['second'] < 10 else ''}{seconds}"


def utc_date(values: dict[str, Any]) -> str | None:
    """RMC's ``ddmmyy``: a two-digit year of 80 or later is 19yy (GPS began in 1980), else 20yy."""
    if values.get("day") is None:
        return None
    year = values["year"] + (1900 if values["year"] >= 80 else 2000)
    return f"{year:04d}-{values['month']:02d}-{values['day']:02d}"


def fix_values(message: Decoded) -> dict[str, Any] | None:
    """The values to keep for a GGA or RMC sentence with a valid fix; None for anything else."""
    values = message.values
    if message.message == "gga" and values["quality"] != "invalid" and values["lat_deg"] is not None:
        kept = {
            "quality": values["quality"],
            "satellites": values["satellites"],
            "hdop": values["hdop"],
            "altitude_m": values["altitude"],
        }
    elif message.message == "rmc" and values["status"] == "active" and values["lat_deg"] is not None:
        kept = {"date": utc_date(values), "speed_knots": values["speed_knots"], "course": values["course"]}
    else:
        return None
    return {
        "sentence": f"{values['talker']}{message.message.upper()}",
        "time": utc_time(values),
        "latitude": degrees(values["lat_deg"], values["lat_min"], values["lat_hemi"]),
        "longitude": degrees(values["lon_deg"], values["lon_min"], values["lon_hemi"]),
        **kept,
    }
