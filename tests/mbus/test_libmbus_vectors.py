"""``specs/mbus.yaml`` against the 54 libmbus test frames and libmbus's own normalised decodes.

Every record of every frame is compared field by field (function, storage, tariff, subunit, quantity, unit,
value). libmbus's vocabulary is mapped onto the spec's (``Energy`` -> ``energy``, ``m^3`` -> ``m3``), its
values are printed with six decimals (compared to within that precision) and its times carry a ``Z`` that
M-Bus local times do not have. Where the two decodes differ, the difference is listed in ``EXPECTED`` with
why, and the test asserts exactly that difference: a new one fails, and so does one that went away.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from core.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
VECTORS = Path(__file__).with_name("vectors") / "libmbus"
FRAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
SPEC = load_spec(ROOT / "specs" / "mbus.yaml")

FUNCTIONS = {
    "Instantaneous value": "instantaneous",
    "Maximum value": "maximum",
    "Minimum value": "minimum",
    "Value during error state": "error",
    "Manufacturer specific": "manufacturer_specific",
    "More records follow": "more_records_follow",
    "Actual value": "actual",
}
QUANTITIES = {
    "Energy": "energy",
    "Volume": "volume",
    "Power": "power",
    "Volume flow": "volume_flow",
    "Time point (date)": "date",
    "Time point (date & time)": "date_time",
    "Flow temperature": "flow_temperature",
    "Return temperature": "return_temperature",
    "External temperature": "external_temperature",
    "Temperature difference": "temperature_difference",
    "Fabrication No": "fabrication_number",
    "Voltage": "voltage",
    "Current": "current",
    "Operating time": "operating_time",
    "On time": "on_time",
    "Manufacturer specific": "manufacturer_specific",
    "Error flags": "error_flags",
    "Dimensionless": "dimensionless",
    "Firmware version": "firmware_version",
    "Software version": "software_version",
    "H.C.A.": "hca_units",
    "Customer location": "customer_location",
    "Averaging Duration": "averaging_duration",
    "Actuality Duration": "actuality_duration",
    "Reserved": "reserved",
    "(Enhanced) Identification": "enhanced_identification",
    "Medium": "medium",
    "Model / Version": "model_version",
    "Parameter set identification": "parameter_set_identification",
    "Digital Input": "digital_input",
    "": None,  # a special function (manufacturer data) has no quantity
}
UNITS = {"m^3": "m3", "m^3/h": "m3/h", "Â°C": "°C", "°C": "°C", "-": "", "Units for H.C.A.": "", "Reserved": ""}
MEDIA = {
    "Heat: Outlet": "heat_outlet",
    "Heat: Inlet": "heat_inlet",
    "Heat": "heat_outlet",
    "Electricity": "electricity",
    "Water": "water",
    "Cold water": "cold_water",
    "Warm water (30-90Â°C)": "warm_water",
    "Heat / Cooling load meter": "heat_cooling_load",
    "Heat Cost Allocator": "heat_cost_allocator",
    "Bus/System": "bus_system",
    "Breaker: Electricity": "breaker_electricity",
    "Oil": "oil",
    "Other": "other",
}

#: (frame, record, field) -> (libmbus's value, the spec's value, why they differ)
EXPECTED = {
    ("ACW_Itron-BM-plus-m", 2, "value"): (
        "2000-00-00",
        None,
        "an all-zero type G date: libmbus prints day and month 0, which is no date",
    ),
    ("itron_bm_+m", 2, "value"): ("2000-00-00", None, "an all-zero type G date (as above)"),
    ("siemens_water", 3, "value"): ("2000-00-00", None, "an all-zero type G date (as above)"),
    ("abb_f95", 2, "value"): (
        "1311041.300000",
        None,
        "the BCD DDB4EBDD of a value in error state: libmbus adds the hex digits up; the spec flags the invalid digits",
    ),
    ("abb_f95", 3, "value"): ("11.041300", None, "the BCD DDB4EB: invalid digits, as above"),
    ("sen_pollutherm", 2, "function"): (
        None,
        "instantaneous",
        "VIF 7B without extension bit (an FB extension with no VIFE): libmbus prints an empty record",
    ),
    ("sen_pollutherm", 2, "value"): ("", 302, "the same record: the spec keeps the raw value, with no quantity"),
    ("sen_pollusonic_2", 0, "unit"): (
        "kWh",
        "Wh",
        "CI 73 counters: libmbus keeps the structure's unit, the spec normalises",
    ),
    ("sen_pollusonic_2", 0, "value"): ("6531", Decimal("6531000"), "6531 kWh in Wh"),
    ("sen_pollusonic_2", 1, "unit"): ("l", "m3", "CI 73 counters, as above"),
    ("sen_pollusonic_2", 1, "value"): ("69", Decimal("0.069"), "69 l in m3"),
    ("sen_pollusonic_2", 0, "quantity"): (None, "energy", "libmbus gives the fixed structure's counters no quantity"),
    ("sen_pollusonic_2", 1, "quantity"): (None, "volume", "as above"),
}


def frame_of(name: str) -> bytes:
    return bytes.fromhex((VECTORS / f"{name}.hex").read_text())


def expected_records(name: str) -> tuple[ET.Element, list[ET.Element]]:
    root = ET.parse(VECTORS / f"{name}.norm.xml").getroot()
    return root.find("SlaveInformation"), root.findall("DataRecord")  # type: ignore[return-value]


def same_value(expected: str, decoded: object, record: dict) -> bool:
    if record.get("manufacturer_data") is not None:
        return expected == " ".join(f"{b:02X}" for b in record["manufacturer_data"])
    if isinstance(decoded, (int, Decimal)) and not isinstance(decoded, bool):
        try:
            number = Decimal(expected)
        except ArithmeticError:
            return False
        return abs(number - Decimal(decoded)) <= Decimal("0.0000005") * max(1, abs(Decimal(decoded)))
    if isinstance(decoded, str) and expected.endswith("Z"):
        expected = expected[:-1]  # libmbus marks local M-Bus times as UTC
    return expected == ("" if decoded is None else decoded)


def differences(name: str) -> dict[tuple[str, int, str], tuple[object, object]]:
    """Every field where the spec's decode and libmbus's differ, keyed like ``EXPECTED``."""
    decoded = SPEC.decode(frame_of(name))
    records = decoded.values["records"]
    _, expected = expected_records(name)
    assert len(records) == len(expected), f"{name}: {len(records)} records, libmbus has {len(expected)}"
    found: dict[tuple[str, int, str], tuple[object, object]] = {}
    for index, (record, element) in enumerate(zip(records, expected, strict=True)):
        function = element.findtext("Function")
        if FUNCTIONS.get(function or "", function) != record["function"]:
            found[(name, index, "function")] = (function, record["function"])
        for tag, key in (("StorageNumber", "storage"), ("Tariff", "tariff"), ("Device", "subunit")):
            text = element.findtext(tag)
            if text is not None and int(text) != record[key]:
                found[(name, index, key)] = (text, record[key])
        quantity = element.findtext("Quantity")
        mapped = None if quantity is None else QUANTITIES.get(quantity, quantity)
        if (quantity is None and record["quantity"] is not None) or (
            quantity is not None and mapped != record["quantity"]
        ):
            found[(name, index, "quantity")] = (quantity, record["quantity"])
        unit = element.findtext("Unit") or ""
        if UNITS.get(unit, unit) != (record["unit"] or ""):
            found[(name, index, "unit")] = (unit, record["unit"])
        value = element.findtext("Value") or ""
        if not same_value(value, record["value"], record):
            found[(name, index, "value")] = (value, record["value"])
    return found


def test_all_54_frames_are_there():
    assert len(FRAMES) == 54


@pytest.mark.parametrize("name", FRAMES)
def test_records_match_libmbus(name):
    found = differences(name)
    expected = {key: (libmbus, ours) for key, (libmbus, ours, _) in EXPECTED.items() if key[0] == name}
    assert found == expected


@pytest.mark.parametrize("name", FRAMES)
def test_header_matches_libmbus(name):
    values = SPEC.decode(frame_of(name)).values
    info, _ = expected_records(name)
    header = values.get("header", values)
    assert header["id"] == info.findtext("Id").zfill(8)
    assert header["access_number"] == int(info.findtext("AccessNumber"))
    assert header["status"] == int(info.findtext("Status"), 16)
    if info.findtext("Manufacturer") is not None:  # the long header (CI 72)
        assert header["manufacturer"] == info.findtext("Manufacturer")
        assert header["version"] == int(info.findtext("Version"))
        assert header["medium"] == MEDIA[info.findtext("Medium")]
        assert f"{header['signature']:04X}" == info.findtext("Signature")


def test_the_match_table():
    """The totals the closing report quotes: every frame decodes, records match but the explained ones."""
    total = sum(len(expected_records(name)[1]) for name in FRAMES)
    differing = {key[:2] for name in FRAMES for key in differences(name)}
    assert total == 697
    assert len(differing) == len({key[:2] for key in EXPECTED}) == 8
    assert total - len(differing) == 689
