"""Helpers shared by the web and scale tests: a hand-moved clock."""

from __future__ import annotations

#: 2025-12-18 12:00:00 +09:00
T0 = 1_766_026_800.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
