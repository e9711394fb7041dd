"""Which weighings of a cylinder are unusual for it.

A cylinder's weighings are compared only with its earlier weighings of the same ``event_type``: a full
cylinder shipping and an empty one returning weigh very differently. The rule, in exact decimals (no
floating point, so the same history always gives the same answer):

1. Take the cylinder's earlier weighings of that event type, in time order, and keep the last 10.
2. With fewer than 3 of them nothing is judged: the weighing is not an anomaly (there is no usual yet).
3. Otherwise ``median`` is their median (the mean of the middle two for an even count) and ``MAD`` the
   median of their absolute deviations from it. The tolerance is the largest of 1.00 kg, 5 % of the
   median and 4.4478 × MAD (three standard deviations, estimated robustly as 1.4826 × MAD), rounded up
   to the next 0.01 kg.
4. The weighing is an anomaly when ``|gross − median| > tolerance``.

The MAD term goes beyond a fixed 1 kg / 5 % band for one reason: a cylinder whose own history varies
(returns with more or less residual gas) is not flagged for its usual variation, while a cylinder that
always weighs the same is still held to the fixed band. The median and MAD are robust, so an earlier
outlier neither moves the usual weight nor widens the band much, and a weighing never widens its own band
(only earlier ones count). Any weighing the fixed band accepts, this rule accepts too.

Only the weighings the caller may see are compared, so a flag never reveals another tenant's weighings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Any

#: how many of the latest earlier weighings of the same event type make the usual weight
HISTORY = 10
#: fewer earlier weighings than this and a weighing is not judged
MIN_HISTORY = 3
FLOOR_KG = Decimal("1.00")
RELATIVE = Decimal("0.05")
#: 3 × 1.4826: three standard deviations of normally distributed weights, from their MAD
MAD_FACTOR = Decimal("4.4478")
_CENTS = Decimal("0.01")


def median(values: Sequence[Decimal]) -> Decimal:
    """The median of ``values`` (not empty): the middle one, or the mean of the middle two."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class Baseline:
    """The usual weight of a cylinder for one event type, drawn from ``basis`` earlier weighings."""

    basis: int
    median_kg: Decimal
    mad_kg: Decimal
    tolerance_kg: Decimal

    @property
    def low_kg(self) -> Decimal:
        return self.median_kg - self.tolerance_kg

    @property
    def high_kg(self) -> Decimal:
        return self.median_kg + self.tolerance_kg

    def as_dict(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "median_kg": self.median_kg,
            "mad_kg": self.mad_kg,
            "tolerance_kg": self.tolerance_kg,
            "low_kg": self.low_kg,
            "high_kg": self.high_kg,
        }


def baseline(earlier: Sequence[Decimal]) -> Baseline | None:
    """The usual weight drawn from the last ``HISTORY`` of ``earlier`` (in time order); None with fewer
    than ``MIN_HISTORY``."""
    recent = list(earlier[-HISTORY:])
    if len(recent) < MIN_HISTORY:
        return None
    middle = median(recent)
    mad = median([abs(value - middle) for value in recent])
    tolerance = max(FLOOR_KG, RELATIVE * abs(middle), MAD_FACTOR * mad).quantize(_CENTS, ROUND_UP)
    return Baseline(len(recent), middle, mad, tolerance)


@dataclass(frozen=True)
class Judgement:
    """One weighing against its baseline (None: too few earlier weighings to judge)."""

    anomaly: bool
    reason: str | None
    baseline: Baseline | None
    deviation_kg: Decimal | None


def judge(gross_kg: Decimal, event_type: str, earlier: Sequence[Decimal]) -> Judgement:
    """``gross_kg`` of an ``event_type`` weighing against the ``earlier`` weighings of that type."""
    usual = baseline(earlier)
    if usual is None:
        return Judgement(False, None, None, None)
    deviation = gross_kg - usual.median_kg
    if abs(deviation) <= usual.tolerance_kg:
        return Judgement(False, None, usual, deviation)
    side = "above" if deviation > 0 else "below"
    reason = (
        f"{gross_kg} kg is {abs(deviation)} kg {side} the median {usual.median_kg} kg of the last {usual.basis}"
        f" {event_type} weighings (tolerance {usual.tolerance_kg} kg)"
    )
    return Judgement(True, reason, usual, deviation)


def gross_of(record: Mapping[str, Any]) -> Decimal:
    return Decimal(record["gross_kg"])


def judge_history(records: Iterable[Mapping[str, Any]]) -> list[Judgement]:
    """A judgement for each of a cylinder's weighings (given in time order), each against the earlier ones
    of its own event type."""
    earlier: dict[str, list[Decimal]] = {}
    judgements = []
    for record in records:
        event_type = str(record.get("event_type"))
        history = earlier.setdefault(event_type, [])
        gross = gross_of(record)
        judgements.append(judge(gross, event_type, history))
        history.append(gross)
    return judgements


def usual_weights(records: Iterable[Mapping[str, Any]], event_types: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per event type (``event_types`` always, others when present): how many weighings there are and the
    baseline the next one will be judged against (its fields None while there are fewer than
    ``MIN_HISTORY``)."""
    by_type: dict[str, list[Decimal]] = {event_type: [] for event_type in event_types}
    for record in records:
        by_type.setdefault(str(record.get("event_type")), []).append(gross_of(record))
    summary: dict[str, dict[str, Any]] = {}
    for event_type, weights in by_type.items():
        usual = baseline(weights)
        fields = (
            usual.as_dict() if usual else dict.fromkeys(("median_kg", "mad_kg", "tolerance_kg", "low_kg", "high_kg"))
        )
        summary[event_type] = {"count": len(weights), **fields, "basis": min(len(weights), HISTORY)}
    return summary
