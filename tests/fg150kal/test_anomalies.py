"""The anomaly rule of a cylinder's weighings, on hand-computed histories (plugins/fg150kal/anomalies.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.fg150kal.anomalies import HISTORY, baseline, judge, judge_history, median, usual_weights


def kg(*values: str) -> list[Decimal]:
    return [Decimal(value) for value in values]


def record(event_type: str, gross: str) -> dict:
    return {"event_type": event_type, "gross_kg": Decimal(gross)}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("53.26",), "53.26"),
        (("50.40", "50.00", "50.20"), "50.20"),
        (("50.00", "50.10", "50.30", "50.40"), "50.20"),
        (("53.25", "53.26"), "53.255"),
    ],
)
def test_median_is_exact(values, expected):
    assert median(kg(*values)) == Decimal(expected)
    assert str(median(kg(*values))) == expected


def test_fewer_than_three_earlier_weighings_are_not_judged():
    for earlier in ([], kg("50.00"), kg("50.00", "50.10")):
        verdict = judge(Decimal("99.00"), "SHIP", earlier)
        assert (verdict.anomaly, verdict.reason, verdict.baseline, verdict.deviation_kg) == (False, None, None, None)
    assert baseline(kg("50.00", "50.10")) is None


def test_five_percent_of_the_median_bounds_a_steady_cylinder():
    # median 50.20; deviations 0.20, 0.20, 0.00 -> MAD 0.20, 4.4478 x 0.20 = 0.88956; 5 % = 2.51; floor 1.00
    earlier = kg("50.00", "50.40", "50.20")
    usual = baseline(earlier)
    assert (usual.basis, usual.median_kg, usual.mad_kg, usual.tolerance_kg) == (
        3,
        Decimal("50.20"),
        Decimal("0.20"),
        Decimal("2.51"),
    )
    assert (usual.low_kg, usual.high_kg) == (Decimal("47.69"), Decimal("52.71"))
    assert judge(Decimal("52.71"), "SHIP", earlier).anomaly is False  # exactly the tolerance: usual
    above = judge(Decimal("52.72"), "SHIP", earlier)
    assert above.anomaly is True and above.deviation_kg == Decimal("2.52")
    assert above.reason == (
        "52.72 kg is 2.52 kg above the median 50.20 kg of the last 3 SHIP weighings (tolerance 2.51 kg)"
    )
    below = judge(Decimal("47.68"), "SHIP", earlier)
    assert below.anomaly is True and below.deviation_kg == Decimal("-2.52") and "2.52 kg below" in below.reason


def test_one_kilogram_floor_for_a_light_cylinder():
    # RETURN median 15.00; deviations 0.00, 0.20, 0.10 -> MAD 0.10 (0.44478); 5 % = 0.75; floor 1.00 wins
    earlier = kg("15.00", "15.20", "14.90")
    assert baseline(earlier).tolerance_kg == Decimal("1.00")
    assert judge(Decimal("16.00"), "RETURN", earlier).anomaly is False
    assert judge(Decimal("14.00"), "RETURN", earlier).anomaly is False
    assert judge(Decimal("16.01"), "RETURN", earlier).anomaly is True
    assert judge(Decimal("13.99"), "RETURN", earlier).anomaly is True


def test_the_median_absolute_deviation_widens_the_band_of_a_varying_cylinder():
    # median 14.00; deviations 4, 0, 4, 2, 2 -> MAD 2.00; 4.4478 x 2.00 = 8.8956 -> 8.90 (5 % = 0.70, floor 1.00)
    earlier = kg("10.00", "14.00", "18.00", "12.00", "16.00")
    usual = baseline(earlier)
    assert (usual.median_kg, usual.mad_kg, usual.tolerance_kg) == (Decimal("14.00"), Decimal("2.00"), Decimal("8.90"))
    assert judge(Decimal("22.90"), "RETURN", earlier).anomaly is False
    assert judge(Decimal("22.91"), "RETURN", earlier).anomaly is True
    assert judge(Decimal("5.10"), "RETURN", earlier).anomaly is False
    assert judge(Decimal("5.09"), "RETURN", earlier).anomaly is True


def test_tolerance_is_rounded_up_to_the_cent():
    # median 53.25, 5 % = 2.6625 -> 2.67, never below the exact band (deviations 0.05, 0, 0.05 -> MAD 0.05)
    earlier = kg("53.20", "53.25", "53.30")
    assert baseline(earlier).tolerance_kg == Decimal("2.67")
    assert judge(Decimal("55.92"), "SHIP", earlier).anomaly is False
    assert judge(Decimal("55.93"), "SHIP", earlier).anomaly is True
    assert judge(Decimal("50.58"), "SHIP", earlier).anomaly is False
    assert judge(Decimal("50.57"), "SHIP", earlier).anomaly is True


def test_only_the_last_ten_earlier_weighings_count():
    # all 14: eight 40.00 and six 50.00 have the median 40.00; the last 10 (four 40.00, six 50.00) have 50.00,
    # and deviations six 0 and four 10 -> MAD 0, tolerance 5 % of 50.00 = 2.50
    earlier = kg(*["40.00"] * 8, *["50.00"] * 6)
    usual = baseline(earlier)
    assert (usual.basis, usual.median_kg, usual.tolerance_kg) == (10, Decimal("50.00"), Decimal("2.50"))
    assert judge(Decimal("50.00"), "SHIP", earlier).anomaly is False
    assert judge(Decimal("40.00"), "SHIP", earlier).anomaly is True


def test_each_weighing_is_judged_against_earlier_ones_of_its_own_event_type():
    history = [
        record("SHIP", "53.20"),
        record("RETURN", "15.10"),
        record("SHIP", "53.30"),
        record("RETURN", "15.00"),
        record("SHIP", "53.25"),
        record("RETURN", "14.90"),
        # SHIP median 53.25, tolerance 2.67 (5 % of 53.25 = 2.6625): 15.00 would be far off, 53.10 is usual
        record("SHIP", "53.10"),
        # RETURN median 15.00, tolerance 1.00: a full cylinder coming back is an anomaly for RETURN
        record("RETURN", "53.00"),
        # the earlier outlier hardly moves the RETURN median (of 15.10, 15.00, 14.90, 53.00: 15.05)
        record("RETURN", "15.20"),
        record("SHIP", "40.00"),
    ]
    verdicts = judge_history(history)
    assert [v.anomaly for v in verdicts] == [False, False, False, False, False, False, False, True, False, True]
    assert [v.baseline is None for v in verdicts] == [True] * 6 + [False] * 4
    assert verdicts[6].baseline.median_kg == Decimal("53.25") and verdicts[6].baseline.tolerance_kg == Decimal("2.67")
    assert verdicts[7].reason == (
        "53.00 kg is 38.00 kg above the median 15.00 kg of the last 3 RETURN weighings (tolerance 1.00 kg)"
    )
    assert verdicts[8].baseline.median_kg == Decimal("15.05") and verdicts[8].baseline.basis == 4
    assert verdicts[9].baseline.median_kg == Decimal("53.225")


def test_usual_weights_give_the_band_the_next_weighing_is_judged_against():
    history = [record("SHIP", "53.20"), record("SHIP", "53.30"), record("SHIP", "53.25"), record("RETURN", "15.00")]
    usual = usual_weights(history, ("SHIP", "RETURN"))
    assert list(usual) == ["SHIP", "RETURN"]
    assert usual["SHIP"] == {
        "count": 3,
        "basis": 3,
        "median_kg": Decimal("53.25"),
        "mad_kg": Decimal("0.05"),
        "tolerance_kg": Decimal("2.67"),
        "low_kg": Decimal("50.58"),
        "high_kg": Decimal("55.92"),
    }
    assert usual["RETURN"] == {
        "count": 1,
        "basis": 1,
        "median_kg": None,
        "mad_kg": None,
        "tolerance_kg": None,
        "low_kg": None,
        "high_kg": None,
    }
    assert usual_weights([], ("SHIP", "RETURN"))["SHIP"]["count"] == 0


CENTS = st.integers(min_value=0, max_value=20000).map(lambda cents: Decimal(cents) / 100)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(CENTS, min_size=3, max_size=15), CENTS)
def test_never_stricter_than_the_fixed_band_and_always_judges_against_the_last_ten(earlier, gross):
    verdict = judge(gross, "SHIP", earlier)
    middle = median(earlier[-HISTORY:])
    assert verdict.baseline.median_kg == middle
    if abs(gross - middle) <= max(Decimal("1.00"), Decimal("0.05") * middle):
        assert verdict.anomaly is False
    assert verdict.anomaly == (abs(gross - middle) > verdict.baseline.tolerance_kg)
