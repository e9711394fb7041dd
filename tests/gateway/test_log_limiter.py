"""The limiter that turns a flood of WARNING lines into a few, each saying how many were not logged."""

from __future__ import annotations

from core.gateway.metrics import LogLimiter


def test_the_log_limiter_reports_what_it_dropped_with_the_next_line():
    now = [100.0]
    limiter = LogLimiter(interval=10.0, burst=2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(5)] == [0, 0, None, None, None]
    assert limiter.allow("b") == 0
    now[0] += 10.0
    assert limiter.allow("a") == 3
    assert limiter.allow("a") == 0
    assert limiter.allow("a") is None
    assert limiter.take_dropped() == {"a": 1}
    assert limiter.take_dropped() == {}
