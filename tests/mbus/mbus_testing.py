"""Helpers of the M-Bus tests."""

from __future__ import annotations


def same(a: object, b: object) -> bool:
    """Equal, a float NaN (a meter's 32-bit real can be one) equal to a NaN."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b
