"""One test per language feature, each on a small inline spec."""

from __future__ import annotations

import struct
from decimal import Decimal

import pytest
from spec_testing import binary_spec, round_trip

from core.errors import ChecksumError, FrameError
from core.spec import checksums


@pytest.mark.parametrize(
    "type_name, endian, value, packed",
    [
        ("u8", "big", 200, b"\xc8"),
        ("s8", "big", -2, b"\xfe"),
        ("u16", "big", 0x1234, b"\x12\x34"),
        ("u16", "little", 0x1234, b"\x34\x12"),
        ("s16", "little", -2, b"\xfe\xff"),
        ("u24", "big", 0x123456, b"\x12\x34\x56"),
        ("u24", "little", 0x123456, b"\x56\x34\x12"),
        ("s24", "big", -1, b"\xff\xff\xff"),
        ("s24", "little", -0x800000, b"\x00\x00\x80"),
        ("u32", "big", 0xDEADBEEF, b"\xde\xad\xbe\xef"),
        ("s32", "little", -5, struct.pack("<i", -5)),
        ("u48", "big", 0x0102030405FF, b"\x01\x02\x03\x04\x05\xff"),
        ("s48", "little", -3, (-3).to_bytes(6, "little", signed=True)),
        ("u64", "big", 2**64 - 1, b"\xff" * 8),
        ("s64", "little", -(2**63), (-(2**63)).to_bytes(8, "little", signed=True)),
    ],
)
def test_integers_every_width_and_byte_order(make_spec, type_name, endian, value, packed):
    spec = make_spec(binary_spec(f"- {{name: x, type: {type_name}, endian: {endian}}}\n- {{name: y, type: u8}}"))
    frame = packed + b"\x07"
    assert round_trip(spec, "m", frame).values == {"x": value, "y": 7}
    with pytest.raises(FrameError) as info:
        spec.encode("m", {"x": value + (1 if value >= 0 else -1) * 2 ** (8 * len(packed)), "y": 0})
    assert info.value.path == "m -> x"


def test_spec_default_byte_order_and_per_field_override(make_spec):
    spec = make_spec(binary_spec("- {name: a, type: u16}\n- {name: b, type: u16, endian: big}", endian="little"))
    assert round_trip(spec, "m", b"\x01\x00\x00\x01").values == {"a": 1, "b": 1}


def test_floats(make_spec):
    spec = make_spec(binary_spec("- {name: f, type: float32}\n- {name: d, type: float64, endian: little}"))
    frame = struct.pack(">f", 1.5) + struct.pack("<d", -2.25)
    assert round_trip(spec, "m", frame).values == {"f": 1.5, "d": -2.25}


def test_fixed_bytes_and_magic_constants(make_spec):
    spec = make_spec(
        binary_spec("""
        - {name: magic, type: u16, const: 0x55AA}
        - {name: tag, type: bytes, size: 2, const: "4D5A"}
        - {name: key, type: bytes, size: 3}
    """)
    )
    frame = b"\x55\xaa\x4d\x5a\x01\x02\x03"
    assert round_trip(spec, "m", frame).values == {"key": b"\x01\x02\x03"}
    assert spec.encode("m", {"key": "010203"}) == frame
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x55\xab" + frame[2:])
    assert (info.value.path, info.value.expected, info.value.found) == ("m -> magic", "0x55AA", "0x55AB")


def test_ascii_strings_with_padding_alignment_and_pattern(make_spec):
    spec = make_spec(
        binary_spec("""
        - {name: left, type: string, size: 6, pad: " "}
        - {name: right, type: string, size: 4, pad: "0", align: right, pattern: "[1-9][0-9]*"}
    """)
    )
    assert round_trip(spec, "m", b"ab    0042").values == {"left": "ab", "right": "42"}
    with pytest.raises(FrameError) as info:
        spec.decode(b"ab    00x2")
    assert info.value.path == "m -> right"
    with pytest.raises(FrameError):
        spec.encode("m", {"left": "toolong", "right": "1"})
    with pytest.raises(FrameError) as info:
        spec.decode(b"ab\xff   0042")
    assert info.value.path == "m -> left" and info.value.found == "6162FF202020"


def test_packed_bcd_with_sign_and_decimals(make_spec):
    spec = make_spec(
        binary_spec("""
        - {name: meter_no, type: bcd, size: 4}
        - {name: reading, type: bcd, size: 3, signed: true, decimals: 2}
    """)
    )
    decoded = round_trip(spec, "m", b"\x12\x34\x56\x78\x01\x23\x4d")
    assert decoded.values == {"meter_no": 12345678, "reading": Decimal("-12.34")}
    assert str(decoded.values["reading"]) == "-12.34"
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x12\x3a\x56\x78\x01\x23\x4c")
    assert info.value.path == "m -> meter_no" and info.value.found == "A"
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x12\x34\x56\x78\x01\x23\x4b")
    assert "sign" in str(info.value)


def test_bit_fields_flags_enum_and_parity(make_spec):
    spec = make_spec(
        binary_spec("""
        - name: status
          type: bits
          size: 2
          bits:
            - {name: alarm, bit: 15}
            - {name: mode, bit: 8, width: 3, enum: {idle: 0, run: 1, stop: 2}}
            - {name: level, bit: 1, width: 4}
            - {bit: 0, parity: odd}
    """)
    )
    value = (1 << 15) | (1 << 8) | (5 << 1)
    value |= 0 if bin(value).count("1") % 2 else 1
    frame = value.to_bytes(2, "big")
    assert round_trip(spec, "m", frame).values == {"status": {"alarm": True, "mode": "run", "level": 5}}
    with pytest.raises(ChecksumError) as info:
        spec.decode((value ^ 1).to_bytes(2, "big"))
    assert info.value.path == "m -> status"
    unknown = 7 << 8
    unknown |= 0 if bin(unknown).count("1") % 2 else 1
    decoded = spec.decode(unknown.to_bytes(2, "big"))
    assert decoded.values["status"]["mode"] == 7
    assert decoded.flags == ["m -> status -> mode: unknown value 7 for enum mode"]


def test_unlisted_bits_must_be_zero_when_reserved_is_checked(make_spec):
    spec = make_spec(binary_spec("- {name: f, type: bits, bits: [{name: a, bit: 0}]}"))
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x81")
    assert info.value.found == "0x80"


def test_enum_unknown_value_kept_and_flagged(make_spec):
    spec = make_spec(binary_spec("- {name: kind, type: u8, enum: kinds}", extra="enums:\n  kinds: {a: 1, b: 2}\n"))
    assert round_trip(spec, "m", b"\x02").values == {"kind": "b"}
    decoded = round_trip(spec, "m", b"\x09")
    assert decoded.values == {"kind": 9} and decoded.flags == ["m -> kind: unknown value 9 for enum kinds"]
    assert spec.encode("m", {"kind": 1}) == b"\x01"
    with pytest.raises(FrameError) as info:
        spec.encode("m", {"kind": "c"})
    assert info.value.path == "m -> kind"


def test_reserved_checked_or_ignored(make_spec):
    checked = make_spec(binary_spec("- {type: reserved, size: 2, fill: 0xFF}\n- {name: x, type: u8}"))
    assert round_trip(checked, "m", b"\xff\xff\x01").values == {"x": 1}
    with pytest.raises(FrameError) as info:
        checked.decode(b"\xff\x00\x01")
    assert info.value.path == "m -> reserved" and info.value.found == "FF00"
    ignored = make_spec(binary_spec("- {type: reserved, size: 2, fill: 0xFF, check: false}\n- {name: x, type: u8}"))
    assert ignored.decode(b"\x12\x34\x01").values == {"x": 1}
    assert ignored.encode("m", {"x": 1}) == b"\xff\xff\x01"


def test_arrays_fixed_counted_and_until_end(make_spec):
    spec = make_spec(
        binary_spec(
            """
        - {name: fixed, type: array, of: u8, count: 2}
        - {name: n, type: u8}
        - {name: counted, type: array, of: pair, count_from: n}
        - {name: rest, type: array, of: {type: u16, scale: "0.5"}, until: end}
    """,
            types="""
        pair:
          fields:
            - {name: a, type: u8}
            - {name: b, type: s8}
    """,
        )
    )
    frame = b"\x01\x02" + b"\x02" + b"\x03\xff\x04\x01" + b"\x00\x03\x00\x04"
    decoded = round_trip(spec, "m", frame)
    assert decoded.values == {
        "fixed": [1, 2],
        "counted": [{"a": 3, "b": -1}, {"a": 4, "b": 1}],
        "rest": [Decimal("1.5"), Decimal("2.0")],
    }
    assert spec.encode("m", {"fixed": [1, 2], "counted": [], "rest": []}) == b"\x01\x02\x00"
    with pytest.raises(FrameError) as info:
        spec.decode(frame[:5])
    assert info.value.path == "m -> counted -> 1 -> a"
    with pytest.raises(FrameError) as info:
        spec.encode("m", {"fixed": [1], "counted": [], "rest": []})
    assert info.value.path == "m -> fixed"


def test_nested_struct_types(make_spec):
    spec = make_spec(
        binary_spec(
            "- {name: outer, type: outer}",
            types="""
        inner:
          fields: [{name: v, type: u8}]
        outer:
          fields:
            - {name: first, type: inner}
            - {name: second, type: inner}
    """,
        )
    )
    assert round_trip(spec, "m", b"\x01\x02").values == {"outer": {"first": {"v": 1}, "second": {"v": 2}}}


def test_switch_selects_the_body_and_flattens_it(make_spec):
    spec = make_spec(
        binary_spec(
            """
        - {name: cmd, type: u8, enum: {read: 1, write: 2}}
        - {name: body, type: switch, on: cmd, cases: {read: read_body, write: write_body}}
        - {name: tail, type: u8}
    """,
            types="""
        read_body:
          fields: [{name: address, type: u16}]
        write_body:
          fields: [{name: address, type: u16}, {name: data, type: u16}]
    """,
        )
    )
    assert round_trip(spec, "m", b"\x01\x00\x10\x09").values == {"cmd": "read", "address": 16, "tail": 9}
    assert round_trip(spec, "m", b"\x02\x00\x10\x00\x20\x09").values == {
        "cmd": "write",
        "address": 16,
        "data": 32,
        "tail": 9,
    }
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x03\x00\x10\x09")
    assert info.value.path == "m -> cmd" and info.value.found == "0x03"


def test_switch_on_a_bits_member(make_spec):
    # the smallest spec that crashed decode with "unhashable type: 'dict'" when the switch was on the whole field
    spec = make_spec(
        binary_spec(
            """
        - name: rc
          type: bits
          size: 2
          endian: little
          bits: [{name: ack, bit: 15}, {name: kind, bit: 4, width: 2, enum: {read: 1, write: 2}}]
        - {name: body, type: switch, on: rc.kind, cases: {read: read_body, write: write_body, 3: other_body}}
        - {name: flag, type: switch, on: rc.ack, cases: {0: no_tail, 1: tail_body}}
    """,
            types="""
        read_body:
          fields: [{name: address, type: u16}]
        write_body:
          fields: [{name: data, type: u16}]
        other_body:
          fields: [{name: raw, type: u16}]
        no_tail:
          fields: [{name: pad, type: u8}]
        tail_body:
          fields: [{name: tail, type: u8}]
    """,
        )
    )
    read = round_trip(spec, "m", b"\x10\x80\x00\x07\x09")
    assert read.values == {"rc": {"ack": True, "kind": "read"}, "address": 7, "tail": 9}
    write = round_trip(spec, "m", b"\x20\x00\x00\x08\x00")
    assert write.values == {"rc": {"ack": False, "kind": "write"}, "data": 8, "pad": 0}
    other = round_trip(spec, "m", b"\x30\x00\x00\x08\x00")
    assert other.values == {"rc": {"ack": False, "kind": 3}, "raw": 8, "pad": 0}
    assert spec.encode("m", {"rc": {"ack": True, "kind": "write"}, "data": 1, "tail": 2}) == b"\x20\x80\x00\x01\x02"
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x00\x00\x00\x08\x00")
    assert (info.value.path, info.value.found) == ("m -> rc -> kind", "0x00")
    assert str(info.value) == "no layout for rc.kind 0x00; expected one of read, write, 3"


def test_switch_on_a_bits_member_fixed_layout_has_a_fast_path(make_spec):
    spec = make_spec(
        binary_spec(
            """
        - {name: rc, type: bits, bits: [{name: big, bit: 7}, {name: n, bit: 0, width: 3}]}
        - {name: body, type: switch, on: rc.big, cases: {0: small_body, 1: big_body}}
    """,
            types="""
        small_body:
          fields: [{name: a, type: u8}, {name: b, type: u8}]
        big_body:
          fields: [{name: c, type: u16}]
    """,
        )
    )
    assert spec.structs["m"].fast is not None
    assert round_trip(spec, "m", b"\x05\x01\x02").values == {"rc": {"big": False, "n": 5}, "a": 1, "b": 2}
    assert round_trip(spec, "m", b"\x83\x01\x02").values == {"rc": {"big": True, "n": 3}, "c": 258}


def test_switch_case_without_fields(make_spec):
    spec = make_spec(
        binary_spec(
            """
        - {name: kind, type: u8, enum: {ping: 0, data: 1, other: 2}}
        - {name: body, type: switch, on: kind, cases: {ping: [], data: data_body}}
        - {name: end, type: u8}
    """,
            types="""
        data_body:
          fields: [{name: v, type: u16}]
    """,
        )
    )
    assert round_trip(spec, "m", b"\x00\x09").values == {"kind": "ping", "end": 9}
    assert round_trip(spec, "m", b"\x01\x00\x05\x09").values == {"kind": "data", "v": 5, "end": 9}
    assert spec.encode("m", {"kind": "ping", "end": 9}) == b"\x00\x09"
    with pytest.raises(FrameError) as info:  # a value of the empty case is unknown there
        spec.encode("m", {"kind": "ping", "v": 5, "end": 9})
    assert info.value.path == "m"
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x02\x09")
    assert info.value.path == "m -> kind"
    # an empty default, and a fixed layout (every case empty) that has a fast path
    spec = make_spec(
        binary_spec("""
        - {name: rc, type: bits, bits: [{name: ack, bit: 7}, {name: code, bit: 0, width: 4}]}
        - {name: body, type: switch, on: rc.code, cases: {1: []}, default: []}
        - {name: end, type: u8}
    """)
    )
    assert spec.structs["m"].fast is not None and spec.messages["m"].size == 2
    assert round_trip(spec, "m", b"\x81\x09").values == {"rc": {"ack": True, "code": 1}, "end": 9}
    assert round_trip(spec, "m", b"\x07\x09").values == {"rc": {"ack": False, "code": 7}, "end": 9}


def test_length_field_computed_on_build(make_spec):
    spec = make_spec(
        binary_spec("""
        - {name: length, type: u8, length_of: payload, adjust: 1}
        - {name: payload, type: string, until: end}
        - {name: end, type: u8}
    """)
    )
    frame = spec.encode("m", {"payload": "hello", "end": 3})
    assert frame == b"\x06hello\x03"
    assert round_trip(spec, "m", frame).values == {"payload": "hello", "end": 3}


def test_length_field_of_a_struct_must_be_used_exactly(make_spec):
    spec = make_spec(
        binary_spec(
            """
        - {name: length, type: u8, length_of: body, adjust: 1}
        - {name: body, type: inner}
        - {name: end, type: u8}
    """,
            types="""
        inner:
          fields: [{name: v, type: u16}]
    """,
        )
    )
    frame = spec.encode("m", {"body": {"v": 7}, "end": 9})
    assert frame == b"\x03\x00\x07\x09"
    assert round_trip(spec, "m", frame).values == {"body": {"v": 7}, "end": 9}
    # the length says 4 bytes (5 - adjust), the struct uses 2: the 2 others are not silently dropped
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x05\x00\x07\xaa\xbb\x09")
    assert (info.value.path, info.value.expected, info.value.found) == ("m -> body", 4, 2)
    assert str(info.value) == "2 bytes left over: the length field 'length' gives 4 bytes, the field uses 2"
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x00\x09")
    assert info.value.path == "m -> body"
    assert str(info.value) == "the length field 'length' is 0, less than its adjust 1"


def test_count_and_size_fields_are_computed(make_spec):
    spec = make_spec(
        binary_spec("""
        - {name: n, type: u8}
        - {name: size, type: u8}
        - {name: items, type: array, of: u8, count_from: n}
        - {name: name, type: string, size_from: size}
    """)
    )
    frame = spec.encode("m", {"items": [7, 8, 9], "name": "ab"})
    assert frame == b"\x03\x02\x07\x08\x09ab"
    assert round_trip(spec, "m", frame).values == {"items": [7, 8, 9], "name": "ab"}


@pytest.mark.parametrize(
    "algorithm, check, endian",
    [
        ("sum8", sum(b"123456789") & 0xFF, "big"),
        ("xor8", 0x31, "big"),
        ("crc16_modbus", 0x4B37, "little"),
        ("crc16_ccitt", 0x29B1, "big"),
        ("crc32", 0xCBF43926, "big"),
    ],
)
def test_checksums_verified_and_computed(make_spec, algorithm, check, endian):
    assert checksums.ALGORITHMS[algorithm][0](b"123456789") == check
    width = checksums.ALGORITHMS[algorithm][1]
    spec = make_spec(
        binary_spec(f"""
        - {{name: head, type: u8, const: 0x7E}}
        - {{name: data, type: string, size: 9}}
        - {{name: crc, type: checksum, algorithm: {algorithm}, start: 1, endian: {endian}}}
    """)
    )
    frame = b"\x7e123456789" + check.to_bytes(width, endian)
    assert spec.encode("m", {"data": "123456789"}) == frame
    assert round_trip(spec, "m", frame).values == {"data": "123456789"}
    broken = bytearray(frame)
    broken[-1] ^= 0x01
    with pytest.raises(ChecksumError) as info:
        spec.decode(bytes(broken))
    assert info.value.path == "m -> crc"
    assert info.value.expected == f"0x{check:0{width * 2}X}"


def test_scale_offset_unit_exact_decimal(make_spec):
    spec = make_spec(
        binary_spec(
            "- {name: t, type: s16, scale: 0.1, offset: -40, unit: degC}\n- {name: p, type: u32, scale: '0.001'}"
        )
    )
    decoded = round_trip(spec, "m", b"\x01\x90\x00\x00\x30\x39")
    assert decoded.values == {"t": Decimal("0.0"), "p": Decimal("12.345")}
    assert str(decoded.values["p"]) == "12.345"
    assert spec.messages["m"].units == {"t": "degC"}
    assert spec.encode("m", {"t": "-40", "p": Decimal("0.001")}) == b"\x00\x00\x00\x00\x00\x01"
    with pytest.raises(FrameError) as info:
        spec.encode("m", {"t": Decimal("0.05"), "p": 0})
    assert info.value.path == "m -> t"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "{name: v, type: s16, scale: 0.1, offset: -40}",
            20.55,
            "20.55 is not a whole multiple of the scale 0.1 (offset -40)",
        ),
        ("{name: v, type: u16, scale: '0.5'}", "0.25", "0.25 is not a whole multiple of the scale 0.5"),
        ("{name: v, type: u16, offset: 2}", "3.5", "3.5 is not the offset 2 plus a whole number"),
    ],
)
def test_scale_error_names_the_value_given(make_spec, field, value, message):
    spec = make_spec(binary_spec(f"- {field}"))
    with pytest.raises(FrameError) as info:
        spec.encode("m", {"v": value})
    assert str(info.value) == message
    assert (info.value.path, info.value.found) == ("m -> v", str(value))


def test_ipv4(make_spec):
    spec = make_spec(binary_spec("- {name: host, type: ipv4}"))
    assert round_trip(spec, "m", b"\xc0\x00\x02\x0a").values == {"host": "192.0.2.10"}
    with pytest.raises(FrameError):
        spec.encode("m", {"host": "300.1.1.1"})


def test_encode_reports_missing_and_unknown_values(make_spec):
    spec = make_spec(binary_spec("- {name: a, type: u8}\n- {name: b, type: u8, default: 5}"))
    assert spec.encode("m", {"a": 1}) == b"\x01\x05"
    with pytest.raises(FrameError) as info:
        spec.encode("m", {"b": 1})
    assert info.value.path == "m -> a" and "missing" in str(info.value)
    with pytest.raises(FrameError) as info:
        spec.encode("m", {"a": 1, "c": 2})
    assert "unknown value name(s) c" in str(info.value)


def test_uplink_and_downlink_in_one_spec(make_spec):
    spec = make_spec("""
        meta: {name: t}
        framing: {fixed: {length: 2}}
        messages:
          up: {direction: uplink, fields: [{name: a, type: u16}]}
          down: {direction: downlink, fields: [{name: b, type: u8}, {name: c, type: u8}]}
        examples:
          - {name: down, message: down, hex: "0102", values: {b: 1, c: 2}}
    """)
    assert spec.decode(b"\x01\x02").message == "up"
    assert spec.decode(b"\x01\x02", message="down").values == {"b": 1, "c": 2}
    assert spec.encode("up", {"a": 258}) == b"\x01\x02"


def _many_messages_spec(count: int) -> str:
    messages = "".join(
        f"  m{i}:\n"
        "    direction: uplink\n"
        "    fields:\n"
        f"      - {{name: tag, type: u16, const: {i}}}\n"
        "      - {name: value, type: u32}\n"
        "      - {name: crc, type: checksum, algorithm: sum8}\n"
        for i in range(count)
    )
    return (
        "meta: {name: many}\nframing: {length_field: {offset: 0, type: u8, max_length: 255}}\n"
        f"messages:\n{messages}"
    )


def test_no_matching_message_error_is_short_and_keeps_the_checksum_class(make_spec):
    spec = make_spec(_many_messages_spec(300))
    assert spec.decode(b"\x00\x96\x00\x00\x00\x01\x97").message == "m150"
    with pytest.raises(ChecksumError) as info:  # m150's tag matches, its checksum does not
        spec.decode(b"\x00\x96\x00\x00\x00\x01\x00")
    assert str(info.value) == (
        "the frame matches none of the messages (300 tried): '00960000000100'; closest: "
        "m150 -> crc: sum8 mismatch over bytes 0..6: expected 0x97, found 0x00; "
        "m0 -> tag: expected constant 0x0000, found 0x0096; m1 -> tag: expected constant 0x0001, found 0x0096; "
        "and 297 more"
    )
    assert (info.value.path, info.value.expected, info.value.found) == ("m150 -> crc", "0x97", "0x00")
    # no tag matches: a plain FrameError naming the spec and the closest candidates, still short
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x01\x96\x00\x00\x00\x01\x00")
    assert type(info.value) is FrameError
    assert (info.value.path, info.value.expected) == ("many", ["m0", "m1", "m2"])
    assert str(info.value).endswith("and 297 more") and len(str(info.value)) < 400
    # a long frame is cut in the message
    with pytest.raises(FrameError) as info:
        spec.decode(bytes(range(100)))
    assert "'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F... (100 bytes)'" in str(info.value)
    assert len(str(info.value)) < 500
    # the closest candidate is the one whose failing field starts furthest into the frame
    with pytest.raises(FrameError) as info:
        spec.decode(b"\x00\x96\x00\x00\x00\x01\x97\x00")
    assert type(info.value) is FrameError
    assert "closest: m150: 1 bytes after the end of the message; m0 -> tag" in str(info.value)
