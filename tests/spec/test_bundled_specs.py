"""The two bundled device specs: every example through every decoder form, and the documented API values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from spec_testing import SPECS_DIR, round_trip

from core.errors import ChecksumError, FrameError
from core.spec import dumps, load_spec, run_examples, validate_spec
from core.spec.examples import example_frame

SPEC_FILES = sorted(SPECS_DIR.glob("*.yaml"))


def _examples():
    for path in SPEC_FILES:
        spec = load_spec(path)
        for example in spec.model.examples:
            yield pytest.param(path, example, id=f"{spec.name}: {example['name']}")


def test_both_device_specs_are_bundled():
    assert {p.stem for p in SPEC_FILES} >= {"gas_meter", "fg150kal"}


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_bundled_spec_validates_cleanly(path):
    assert validate_spec(path) == []
    assert run_examples(load_spec(path)) == []


@pytest.mark.parametrize("path, example", list(_examples()))
def test_every_example_round_trips(path, example):
    spec = load_spec(path)
    frame = example_frame(example)
    if "error" in example:
        for which in ("plain", "compiled"):
            with pytest.raises(FrameError):
                spec.parse_with(example.get("message") or spec.decode_order[0], frame, which)
        return
    decoded = spec.decode(frame, message=example.get("message"))
    info = spec.messages[decoded.message]
    if info.kind == "binary":
        round_trip(spec, decoded.message, frame)
    else:
        for which in ("plain", "compiled"):
            again = spec.parse_with(decoded.message, frame, which)
            assert (again.values, again.flags) == (decoded.values, decoded.flags)
        rebuilt = spec.decode(spec.encode(decoded.message, decoded.values), message=decoded.message)
        ignore = {"text"}
        assert {k: v for k, v in rebuilt.values.items() if k not in ignore} == {
            k: v for k, v in decoded.values.items() if k not in ignore
        }


def test_gas_meter_report_values_are_flat_and_typed():
    spec = load_spec(SPECS_DIR / "gas_meter.yaml")
    frame = example_frame(spec.model.examples[0])
    msg = spec.decode(frame)
    assert msg.message == "report"
    assert list(msg.values) == ["eid", "uid", "counts", "battery", "uptime", "event_code", "seconds_per_rotation"]
    assert msg.values["eid"] == "normal" and msg.values["uid"] == "D4245A98"
    assert len(msg.values["counts"]) == 24
    assert msg.values["counts"][0] == {"ts": 1741190400, "count": 1234}
    assert msg.values["counts"][23] == {"ts": 0, "count": 0}
    assert msg.raw == frame and msg.flags == []
    assert spec.messages["report"].direction == "uplink" and spec.messages["reply"].direction == "downlink"
    assert spec.structs["report"].fast is not None


def test_gas_meter_reply_rc_bits_and_parity():
    spec = load_spec(SPECS_DIR / "gas_meter.yaml")
    base = {
        "uid": "D4245A98",
        "ts_now": 1,
        "ts_next": 0xFFFFFFFF,
        "count": 0,
        "min": 0,
        "max": 0,
        "host": "192.0.2.10",
        "port": 5004,
    }
    assert spec.encode("reply", {**base, "rc": {"ts": True, "minmax": True}})[0] == 0xC0
    built = spec.encode("reply", {**base, "rc": {"ts": True, "minmax": True, "count": True}})
    assert built[0] == 0xC9
    assert built[25:29] == bytes([192, 0, 2, 10]) and built[31] == 0xFF and len(built) == 32
    decoded = spec.decode(built, message="reply")
    assert decoded.values["rc"] == {
        "ts": True,
        "minmax": True,
        "io": False,
        "count": True,
        "server": False,
        "uid": False,
    }
    assert decoded.values["host"] == "192.0.2.10" and decoded.values["ts_next"] == 0xFFFFFFFF
    broken = bytes([0xC8]) + built[1:]
    with pytest.raises(ChecksumError) as info:
        spec.decode(broken, message="reply")
    assert info.value.path == "reply -> rc"


def test_gas_meter_errors_carry_paths():
    spec = load_spec(SPECS_DIR / "gas_meter.yaml")
    frame = bytearray(example_frame(spec.model.examples[0]))
    with pytest.raises(FrameError) as info:
        spec.decode(bytes([0x55]) + bytes(frame[1:]))
    assert info.value.path == "report -> eid" and "0x55" in str(info.value)
    with pytest.raises(FrameError) as info:
        spec.decode(bytes(frame[: 9 + 3 * 8 + 2]))
    assert info.value.path == "report -> counts -> 3 -> ts"
    assert (info.value.expected, info.value.found) == (4, 2)
    frame[3] = ord("x")
    with pytest.raises(FrameError) as info:
        spec.decode(bytes(frame))
    assert info.value.path == "report -> uid" and info.value.found == "D4x45A98"


def test_gas_meter_unknown_event_code_is_kept_and_flagged():
    spec = load_spec(SPECS_DIR / "gas_meter.yaml")
    frame = next(example_frame(e) for e in spec.model.examples if "unknown event code" in e["name"])
    msg = spec.decode(frame)
    assert msg.values["event_code"] == 7 and type(msg.values["event_code"]) is int
    assert msg.flags == ["report -> event_code: unknown value 7 for enum event_code"]


def test_fg150kal_weight_overload_and_tolerant_form():
    spec = load_spec(SPECS_DIR / "fg150kal.yaml")
    msg = spec.decode(b"ST,+00053.25 kg")
    assert msg.values["value"] == Decimal("53.25") and str(msg.values["value"]) == "53.25"
    assert dumps(msg.values["value"]) == "53.25"
    assert spec.decode(b"ST , +000053.26 _kg").values["value"] == Decimal("53.26")
    overload = spec.decode(b"OL,+99999.99 kg").values
    assert overload["value"] is None and overload["overload"] is True and overload["stable"] is False
    assert spec.decode(b"\x06").values == {"reply": "ACK", "code": None}
    assert spec.decode(b"SN,01234567").message == "info"
    with pytest.raises(FrameError) as info:
        spec.decode(b"HELLO")
    assert "none of the messages" in str(info.value)


def test_dumps_writes_exact_decimals_and_hex_bytes():
    text = dumps({"a": Decimal("53.250"), "b": b"\x01\xab", "c": [Decimal("-0.05")], "d": None})
    assert text == '{"a": 53.250, "b": "01AB", "c": [-0.05], "d": null}'
