"""Optional check-in scheduler: spread a fleet's reports across the reporting interval.

With the original behaviour (``TS next = now + ref_interval``) meters that were installed or reset
together keep reporting together, and a fleet drifts into bursts. When enabled, each device gets a fixed
phase inside its interval, derived from its uid (so it is stable across restarts and processes), and is
told to report at the next moment of that phase at least ``min_gap`` of an interval from now:

    phase = hash(uid) mod interval
    next  = smallest t >= now + min_gap * interval with t mod interval == phase

The gap between two reports of a device therefore stays between ``min_gap`` and ``1 + min_gap``
intervals (on average one interval), and the report times of many devices are spread uniformly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from core.api import ConfigError


def device_phase(device_uid: str, interval: int) -> int:
    """The device's fixed offset in ``[0, interval)``: a hash of its uid, the same in every process."""
    digest = hashlib.blake2b(device_uid.encode("ascii"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % interval


@dataclass(frozen=True)
class CheckinScheduler:
    """Computes ``TS next`` for normal replies.

    :param spread: False keeps the original ``now + interval``.
    :param min_gap: smallest gap between two reports, as a fraction of the interval (0 < min_gap <= 1).
    """

    spread: bool = False
    min_gap: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.min_gap, (int, float)) or isinstance(self.min_gap, bool) or not 0 < self.min_gap <= 1:
            raise ConfigError(f"gas_meter checkin_min_gap must be a number in (0, 1], got {self.min_gap!r}")

    def next_report(self, device_uid: str, now: int, interval: int) -> int:
        """When the device must report next, in epoch seconds."""
        if not self.spread or interval <= 1:
            return now + interval
        earliest = now + max(1, int(interval * self.min_gap))
        return earliest + (device_phase(device_uid, interval) - earliest) % interval
