"""``specs/wmbus.yaml``: the link layer, transport headers, security mode 5 and the ELL, on hand-made telegrams
and on the 281 wmbusmeters test telegrams, compared with the fields of its drivers' output that a generic
EN 13757-3 decode can give (total volume and energy, target values, temperatures, flow, power, dates)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from mbus_testing import same

from core.errors import ChecksumError, FrameError
from core.spec import load_spec
from core.spec.checksums import Crc
from core.spec.transforms import KeyRing

ROOT = Path(__file__).resolve().parents[2]
WMBUS = load_spec(ROOT / "specs" / "wmbus.yaml")
MBUS = load_spec(ROOT / "specs" / "mbus.yaml")
TELEGRAMS = [
    json.loads(line) for line in (Path(__file__).with_name("vectors") / "wmbusmeters" / "telegrams.jsonl").open()
]
CRC = Crc(16, 0x3D65, xorout=0xFFFF)

#: a driver's field -> (quantity, storage, tariff, subunit) of the instantaneous record it comes from
FIELDS = {
    "total_m3": ("volume", 0, 0, 0),
    "total_volume_m3": ("volume", 0, 0, 0),
    "target_m3": ("volume", 1, 0, 0),
    "target_volume_m3": ("volume", 1, 0, 0),
    "total_energy_consumption_kwh": ("energy", 0, 0, 0),
    "total_kwh": ("energy", 0, 0, 0),
    "target_energy_kwh": ("energy", 1, 0, 0),
    "target_kwh": ("energy", 1, 0, 0),
    "volume_flow_m3h": ("volume_flow", 0, 0, 0),
    "flow_m3h": ("volume_flow", 0, 0, 0),
    "power_kw": ("power", 0, 0, 0),
    "flow_temperature_c": ("flow_temperature", 0, 0, 0),
    "return_temperature_c": ("return_temperature", 0, 0, 0),
    "total_energy_consumption_tariff_1_kwh": ("energy", 0, 1, 0),
    "total_energy_consumption_tariff_2_kwh": ("energy", 0, 2, 0),
    "total_volume_subunit1_m3": ("volume", 0, 0, 1),
    "total_volume_subunit2_m3": ("volume", 0, 0, 2),
}


def telegram_bytes(entry: dict) -> bytes | None:
    try:
        return bytes.fromhex(entry["telegram"].replace("_", "").replace("|", ""))
    except ValueError:
        return None  # three telegrams carry placeholders, not hex


def decode(entry: dict):
    """The spec's decode of a test telegram (wired M-Bus frames with the mbus spec), or None."""
    frame = telegram_bytes(entry)
    if frame is None:
        return None
    spec = MBUS if frame[0] == 0x68 else WMBUS
    try:
        return spec.decode(frame, keys=[entry["key"]] if entry["key"] else None)
    except FrameError:
        return None


def header_of(values: dict) -> dict:
    return values.get("header") or {}


def candidate(records: list[dict], quantity: str, storage: int, tariff: int, subunit: int) -> dict | None:
    for record in records:
        if (record["quantity"], record["storage"], record["tariff"], record["subunit"]) == (
            quantity,
            storage,
            tariff,
            subunit,
        ) and record["function"] == "instantaneous":
            return record
    return None


#: base units -> the drivers' units (kWh, kW) where they differ
TO_DRIVER_UNIT = {"Wh": Decimal("0.001"), "J": Decimal(1) / Decimal(3600000), "W": Decimal("0.001")}


def same_number(expected: object, value: object, unit: str) -> bool:
    if value is None or isinstance(value, (str, bytes)):
        return False
    want = Decimal(str(expected))
    got = Decimal(str(value)) * TO_DRIVER_UNIT.get(unit, Decimal(1))
    places = max(-want.as_tuple().exponent, 0)  # the driver's output is rounded to its printed places
    return abs(got - want) <= Decimal(1).scaleb(-places) / 2 + abs(want) * Decimal("1e-9")


def match_table() -> dict[str, tuple[int, int, int]]:
    """field -> (telegrams with the field, decoded with a record for it, values matching)."""
    table: dict[str, list[int]] = {name: [0, 0, 0] for name in ["id", *FIELDS]}
    for entry in TELEGRAMS:
        decoded = decode(entry)
        expected = entry["expected_json"]
        table["id"][0] += 1
        if decoded is not None:
            table["id"][1] += 1
            table["id"][2] += str(header_of(decoded.values).get("id")).upper() == expected["id"].upper()
        for name, (quantity, storage, tariff, subunit) in FIELDS.items():
            if name not in expected:
                continue
            table[name][0] += 1
            record = candidate(decoded.values.get("records", []) if decoded else [], quantity, storage, tariff, subunit)
            if record is None:
                continue
            table[name][1] += 1
            table[name][2] += same_number(expected[name], record["value"], record["unit"])
    return {name: (a, b, c) for name, (a, b, c) in table.items()}


# ---------------------------------------------------------------------------------------------- hand-made


def frame_with(body: bytes) -> bytes:
    return bytes([len(body)]) + body


LINK = bytes.fromhex("44 2D2C 78563412 1B 16")  # C, M (KAM), A: id 12345678, version 1B, cold water


def test_short_header_and_a_record():
    frame = frame_with(LINK + bytes.fromhex("7A 21 00 0000  0C13 12345600"))
    decoded = WMBUS.decode(frame)
    assert header_of(decoded.values) == {
        "id": "12345678",
        "manufacturer": "KAM",
        "version": 0x1B,
        "medium": "cold_water",
        "access_number": 0x21,
        "status": 0,
        "configuration": 0,
    }
    (record,) = decoded.values["records"]
    assert (record["quantity"], record["unit"], record["value"]) == ("volume", "m3", Decimal("563.412"))
    assert WMBUS.encode("telegram", decoded.values) == frame


def test_security_mode_5_decrypts_with_the_meters_key_and_builds_back_encrypted():
    key = bytes(range(16))
    clear = frame_with(LINK + bytes.fromhex("7A 21 00 1005  2F2F 0C13 12345600 2F2F2F2F2F2F2F2F"))
    values = WMBUS.decode(clear).values  # a clear telegram with mode 5 bits (as receivers hand them over)
    encrypted = WMBUS.encode("telegram", values, keys={"12345678": key})
    assert encrypted[:15] == clear[:15] and encrypted[15:] != clear[15:]
    decoded = WMBUS.decode(encrypted, keys={"12345678": key})
    assert decoded.values["records"] == values["records"] and decoded.flags == []
    unread = WMBUS.decode(encrypted)  # no key: the part stays as received, and a flag says why
    assert unread.values["payload"] == encrypted[15:]
    assert unread.flags == ["telegram: encrypted (AES-128-CBC): no key for 12345678"]
    wrong = WMBUS.decode(encrypted, keys=[bytes(16)])
    assert wrong.flags == ["telegram: encrypted (AES-128-CBC): no key of 12345678 decrypts it"]
    generated = WMBUS.structs["telegram"].fast_keys(encrypted, None)
    assert generated == (unread.values, unread.flags)  # the generated decoder says the same


def test_format_a_checks_and_drops_the_block_crcs():
    telegram = frame_with(LINK + bytes.fromhex("7A 21 00 0000  0C13 12345600"))
    blocks, position, size = bytearray(), 0, 10
    while position < len(telegram):
        chunk = telegram[position : position + size]
        blocks += chunk + CRC(chunk).to_bytes(2, "big")
        position += len(chunk)
        size = 16
    framed = bytes(blocks)
    decoded = WMBUS.decode(framed)
    assert decoded.message == "format_a"
    assert decoded.values["records"] == WMBUS.decode(telegram).values["records"]
    assert WMBUS.encode("format_a", decoded.values) == framed
    broken = bytearray(framed)
    broken[-1] ^= 1
    with pytest.raises(ChecksumError):
        WMBUS.decode(bytes(broken), message="format_a")


def test_the_records_are_the_same_text_as_in_the_mbus_spec():
    mbus = yaml.safe_load((ROOT / "specs" / "mbus.yaml").read_text())
    wmbus = yaml.safe_load((ROOT / "specs" / "wmbus.yaml").read_text())
    for table in ("vif", "vif_fb", "vif_fd", "vife_scale", "function"):
        assert wmbus["tables"][table] == mbus["tables"][table], table
    for type_name in ("type_g", "type_f", "type_i", "type_j", "record"):
        assert wmbus["types"][type_name] == mbus["types"][type_name], type_name
    assert {e["code"]: e["name"] for e in wmbus["tables"]["medium"]["entries"]} == {
        v: k for k, v in mbus["enums"]["medium"].items()
    }


# ---------------------------------------------------------------------------------------------- wmbusmeters


def test_wmbusmeters_telegrams_decode():
    frames = [telegram_bytes(entry) for entry in TELEGRAMS]
    decoded = [decode(entry) for entry in TELEGRAMS]
    assert len(TELEGRAMS) == 281 and sum(f is None for f in frames) == 3
    assert sum(d is not None for d in decoded) == 271


def test_wmbusmeters_match_table():
    """The table of the closing report; a change in any figure shows here."""
    assert match_table() == {
        "id": (281, 271, 267),
        "total_m3": (126, 70, 70),
        "total_volume_m3": (40, 32, 32),
        "target_m3": (53, 27, 23),
        "target_volume_m3": (18, 11, 11),
        "total_energy_consumption_kwh": (62, 51, 51),
        "total_kwh": (17, 9, 9),
        "target_energy_kwh": (22, 15, 15),
        "target_kwh": (13, 11, 8),
        "volume_flow_m3h": (42, 35, 35),
        "flow_m3h": (11, 9, 9),
        "power_kw": (30, 27, 27),
        "flow_temperature_c": (26, 18, 18),
        "return_temperature_c": (13, 12, 12),
        "total_energy_consumption_tariff_1_kwh": (9, 9, 8),
        "total_energy_consumption_tariff_2_kwh": (9, 9, 8),
        "total_volume_subunit1_m3": (12, 8, 8),
        "total_volume_subunit2_m3": (12, 8, 8),
    }


@pytest.mark.parametrize("index", range(len(TELEGRAMS)))
def test_generated_decoder_agrees_on_wmbusmeters_telegrams(index):
    frame = telegram_bytes(TELEGRAMS[index])
    if frame is None:
        return
    spec = MBUS if frame[0] == 0x68 else WMBUS
    keys = [TELEGRAMS[index]["key"]] if TELEGRAMS[index]["key"] else None
    for name in spec.messages:
        structs = spec.structs[name]
        if structs.fast_keys is None:
            continue
        generated = structs.fast_keys(frame, KeyRing.of(keys))
        try:
            plain = spec.parse_with(name, frame, "plain", keys)
        except FrameError:
            assert generated is None
            continue
        assert same(generated, (plain.values, plain.flags))
