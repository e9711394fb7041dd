"""Text/line messages (regex and fixed columns) and every framing kind."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import FrameError
from core.spec.framing import DelimitedFramer, FixedFramer, LengthFieldFramer, LineFramer

TEXT_SPEC = """
meta: {name: t}
framing: {lines: {max_length: 32}}
messages:
  reading:
    direction: uplink
    text:
      regex: '(?P<code>[A-Z]{2}):(?P<value>[+-]?[0-9.]+)(?P<ok>!)?'
      template: "{code}:{value}{ok}"
      fields:
        - {name: code, group: code, type: choice, choices: {temperature: TT, pressure: PP}}
        - {name: value, group: value, type: decimal}
        - {name: places, group: value, type: decimals}
        - {name: ok, group: ok, type: bool, match: "!"}
  columns:
    direction: downlink
    text:
      columns: true
      template: "{cmd}{count}{name}"
      fields:
        - {name: cmd, columns: [0, 1], type: str}
        - {name: count, columns: [1, 4], type: int, width: 3, pad: "0"}
        - {name: name, columns: [4, 8], type: str, width: 4}
"""


def test_regex_text_message_types(make_spec):
    spec = make_spec(TEXT_SPEC)
    decoded = spec.decode(b"TT:-12.50!")
    assert decoded.message == "reading"
    assert decoded.values == {"code": "temperature", "value": Decimal("-12.50"), "places": 2, "ok": True}
    assert str(decoded.values["value"]) == "-12.50"
    assert spec.decode(b"PP:3").values == {"code": "pressure", "value": Decimal("3"), "places": 0, "ok": False}
    assert spec.encode("reading", {"code": "pressure", "value": Decimal("1.5"), "places": 3}) == b"PP:1.500"
    for which in ("plain", "compiled"):
        assert spec.parse_with("reading", b"TT:1.0", which).values["value"] == Decimal("1.0")
    with pytest.raises(FrameError):
        spec.decode(b"XX:1.0", message="reading")


def test_fixed_column_text_message(make_spec):
    spec = make_spec(TEXT_SPEC)
    assert spec.encode("columns", {"cmd": "W", "count": 7, "name": "ab"}) == b"W007ab  "
    assert spec.decode(b"W007ab  ", message="columns").values == {"cmd": "W", "count": 7, "name": "ab"}
    with pytest.raises(FrameError) as info:
        spec.decode(b"W0x7ab  ", message="columns")
    assert info.value.path == "columns -> count"


def test_fixed_framer_resyncs_on_unknown_first_bytes():
    framer = FixedFramer(3, [0xA0])
    assert framer.decode(b"") == (0, None)
    assert framer.decode(b"\x01\x02\xa0") == (2, None)
    assert framer.decode(b"\xa0\x01") == (0, None)
    assert framer.decode(b"\xa0\x01\x02\xa0") == (3, b"\xa0\x01\x02")


def test_length_field_framer():
    framer = LengthFieldFramer(
        offset=1, type="u16", max_length=16, start="68", endian="little", counts="after", adjust=1
    )
    frame = b"\x68\x02\x00ab\x16"
    assert framer.decode(frame[:4]) == (0, None)
    assert framer.decode(b"zz" + frame) == (2, None)
    assert framer.decode(frame + b"\x68") == (6, frame)
    assert framer.decode(b"\x68\xff\x00" + b"x" * 20) == (1, None)  # too long: skip and resync


def test_delimited_framer():
    framer = DelimitedFramer(start="02", end="03", max_length=4)
    assert framer.decode(b"junk\x02ab") == (4, None)
    assert framer.decode(b"\x02ab") == (0, None)
    assert framer.decode(b"\x02ab\x03rest") == (4, b"ab")
    assert framer.decode(b"\x02abcdefg") == (1, None)
    assert DelimitedFramer(start="02", end="03", max_length=4, include_delimiters=True).decode(b"\x02a\x03") == (
        3,
        b"\x02a\x03",
    )


def test_line_framer_strips_masks_skips_and_caps():
    framer = LineFramer(max_length=8, strip="0d00", mask_high_bit=True)
    assert framer.decode(b"\x00ST\r\n") == (5, b"ST")
    assert framer.decode(bytes([0xD3, 0xD4]) + b"\r\n") == (4, b"ST")
    assert framer.decode(b"\r\n\r\nAB\n") == (7, b"AB")
    assert framer.decode(b"AB") == (0, None)
    assert framer.decode(b"0123456789") == (10, None)  # over-long: discard up to the next LF
    assert framer.decode(b"xx\nOK\n") == (3, None)
    assert framer.decode(b"OK\n") == (3, b"OK")


def test_scale_stream_through_framer_and_decoder(make_spec):
    from spec_testing import SPECS_DIR

    from core.spec import load_spec

    spec = load_spec(SPECS_DIR / "fg150kal.yaml")
    framer = spec.new_framer()
    data = b"\x00\x00ST,+00053.25 kg\r\nUS,+00001.00 kg\r\n"
    frames = []
    while True:
        consumed, frame = framer.decode(data)
        if not consumed:
            break
        data = data[consumed:]
        frames.append(spec.decode(frame).values["header"])
    assert frames == ["ST", "US"]


def _framers():
    return [
        FixedFramer(3, [0xA0, 0xA1]),
        LengthFieldFramer(offset=1, type="u16", max_length=16, start="68", endian="little", counts="after", adjust=1),
        LengthFieldFramer(offset=0, type="u8", max_length=8, counts="frame"),
        DelimitedFramer(start="02", end="03", max_length=4),
        DelimitedFramer(start="7E7E", end="0D0A", max_length=6, include_delimiters=True),
        LineFramer(max_length=8, strip="0d00", mask_high_bit=True),
    ]


STREAMS = [
    (0, b"\xa0\x01\x02\xa1\x03\x04\xa0\xa0\xa0", [b"\xa0\x01\x02", b"\xa1\x03\x04", b"\xa0\xa0\xa0"]),
    (1, b"\x68\x02\x00ab\x16\x68\x00\x00\x16", [b"\x68\x02\x00ab\x16", b"\x68\x00\x00\x16"]),
    (2, b"\x03ab\x01\x08abcdefg", [b"\x03ab", b"\x01", b"\x08abcdefg"]),
    (3, b"\x02ab\x03\x02\x03\x02abcd\x03", [b"ab", b"", b"abcd"]),
    (4, b"~~a\r\n~~\r\n", [b"~~a\r\n", b"~~\r\n"]),
    (5, b"ST\r\nA\r\n\r\nBC\n", [b"ST", b"A", b"BC"]),
]


def _run(framer, chunks):
    buffer, frames = bytearray(), []
    for chunk in chunks:
        buffer += chunk
        while True:
            consumed, frame = framer.decode(buffer)
            if not consumed:
                assert frame is None
                break
            assert consumed <= len(buffer)
            del buffer[:consumed]
            if frame is not None:
                frames.append(frame)
    return frames


@pytest.mark.parametrize("index, stream, expected", STREAMS)
def test_every_framer_split_at_every_offset(index, stream, expected):
    assert _run(_framers()[index], [stream]) == expected
    for offset in range(len(stream) + 1):
        assert _run(_framers()[index], [stream[:offset], stream[offset:]]) == expected, offset
    assert _run(_framers()[index], [stream[i : i + 1] for i in range(len(stream))]) == expected


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 5))
def test_framers_never_fail_on_random_bytes(data, index):
    framer = _framers()[index]
    frames = _run(framer, [data[: len(data) // 2], data[len(data) // 2 :]])
    assert all(len(f) <= framer.max_frame_length for f in frames)
