"""The second version of the language, feature by feature: what decodes, what builds back, what the generated
decoder gives (the same as construct), and the pathed problem ``validate-spec`` reports for each mistake."""

from __future__ import annotations

from decimal import Decimal

import pytest
from spec_testing import SPECS_DIR, binary_spec

from core.errors import ChecksumError, FrameError
from core.spec import validate_spec
from core.spec.expr import ExprError, parse


def agree(spec, message, frame):
    """Decode with construct and with the generated decoder: the same values and flags."""
    plain = spec.parse_with(message, frame, "plain")
    generated = spec.structs[message].fast(frame)
    assert generated == (plain.values, plain.flags)
    return plain


def problems_of(spec_file, text):
    return [f"{p.pointer}: {p.message}" for p in validate_spec(spec_file(text))]


# ---------------------------------------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("x.__class__", "member names starting with '_' are not allowed"),
        ("(lambda: 1)()", "unknown function 'lambda: 1'"),
        ("[x for x in y].pop()", "unknown function"),
        ("open('f')", "unknown function 'open'"),
        ("x := 1", "invalid expression"),
        ("len(x, y)", "len() takes 1 arguments, got 2"),
        ("x is 3", "'is' and 'is not' only compare with None"),
        ("int(x, base=2)", "takes positional arguments only"),
        ("lookup(t, 1)", "lookup() names its table as a string"),
    ],
)
def test_expressions_outside_the_allow_list_are_refused(text, problem):
    expression, message = parse(text)
    assert expression is None and problem in (message or "")


def test_expressions_compute_exactly_and_are_bounded():
    def value(text, **names):
        expression, problem = parse(text)
        assert expression is not None, problem
        return expression.evaluate(names.get)

    assert value("3 / 4") == Decimal("0.75") and value("1.10 + 2") == Decimal("3.10")
    assert value("plain(12 * pow10(3))") == Decimal("12000") and str(value("plain(12 * pow10(3))")) == "12000"
    assert value("x.b if x is not None else -1", x={"b": 5}) == 5 and value("x.b", x=None) is None
    assert value("sum(d << (4 * i) for i, d in enumerate(xs))", xs=[1, 2]) == 0x21
    assert value("date(2024, 2, 30)") is None and value("datetime(2012, 7, 10, 15, 25)") == "2012-07-10T15:25:00"
    for huge in ("2 ** 100000", "1 << 100000", "'a' * 10 ** 8"):
        with pytest.raises(ExprError):
            value(huge)


# ---------------------------------------------------------------------------------------------- features


def test_conditional_and_computed_fields_and_equality(make_spec):
    spec = make_spec(
        binary_spec("""
        - {name: flags, type: u8}
        - {name: extra, type: u16, if: "flags & 0x80"}
        - {name: copy, type: u8, equals: flags}
        - {name: magic, type: u8, const: 0x55, show: true}
        - {name: double, type: computed, value: "(extra or 0) * 2"}
        """)
    )
    with_extra = agree(spec, "m", bytes.fromhex("80 0102 80 55"))
    assert with_extra.values == {"flags": 0x80, "extra": 0x0102, "magic": 0x55, "double": 0x204}
    without = agree(spec, "m", bytes.fromhex("00 00 55"))
    assert without.values == {"flags": 0, "extra": None, "magic": 0x55, "double": 0}
    assert spec.encode("m", with_extra.values) == bytes.fromhex("80 0102 80 55")
    assert spec.encode("m", {"flags": 0}) == bytes.fromhex("00 00 55")
    with pytest.raises(FrameError) as info:
        spec.decode(bytes.fromhex("00 01 55"))
    assert info.value.path == "m -> copy" and "expected 0 (flags), found 1" in str(info.value)
    with pytest.raises(FrameError, match="absent"):
        spec.encode("m", {"flags": 0, "extra": 5})


def test_repetition_until_a_condition_a_marker_and_a_chain(make_spec):
    spec = make_spec(
        binary_spec(
            """
        - {name: chain, type: array, of: u8, chain: 7, max: 3}
        - {name: pairs, type: array, of: pair, until: "item.k == 0"}
        - {name: rest, type: array, of: u8, until: end, skip: [0x2F], stop: ["0F"]}
        - {name: marker, type: bytes, until: end}
        """,
            types="pair:\n  fields: [{name: k, type: u8}, {name: v, type: u8, if: 'k != 0'}]",
        )
    )
    frame = bytes.fromhex("81 82 03  01 AA 02 BB 00  2F 05 2F 06  0F 99")
    decoded = agree(spec, "m", frame)
    assert decoded.values["chain"] == [0x81, 0x82, 0x03]
    assert decoded.values["pairs"] == [{"k": 1, "v": 0xAA}, {"k": 2, "v": 0xBB}, {"k": 0, "v": None}]
    assert decoded.values["rest"] == [5, 6] and decoded.values["marker"] == b"\x0f\x99"
    assert spec.encode("m", decoded.values) == bytes.fromhex("81 82 03 01 AA 02 BB 00 05 06 0F 99")  # no fillers
    with pytest.raises(FrameError, match="more than 3 elements"):
        spec.decode(bytes.fromhex("81 82 83 04 00"))
    with pytest.raises(FrameError, match="bit 7 must be set"):
        spec.encode("m", {**decoded.values, "chain": [0x01, 0x02]})


def test_switch_on_an_expression_with_ranges_and_value_cases(make_spec):
    spec = make_spec(
        binary_spec("""
        - {name: dif, type: u8}
        - name: data
          type: switch
          on: "dif & 0x0F"
          cases:
            0: []
            1: u8
            2: {type: bcd, size: 2, endian: little, sign: leading_f, invalid: flag}
            "0x08..0x0B": {type: bytes, size: "(dif & 0x0F) - 8"}
        """)
    )
    assert agree(spec, "m", bytes.fromhex("10")).values == {"dif": 0x10, "data": None}
    assert agree(spec, "m", bytes.fromhex("01 7F")).values["data"] == 0x7F
    assert agree(spec, "m", bytes.fromhex("02 34 F2")).values["data"] == -234  # M-Bus: F on top is negative
    assert agree(spec, "m", bytes.fromhex("0A AB CD")).values["data"] == b"\xab\xcd"
    assert agree(spec, "m", bytes.fromhex("08")).values["data"] == b""  # both ends of a range are in it
    assert agree(spec, "m", bytes.fromhex("0B 01 02 03")).values["data"] == b"\x01\x02\x03"
    flagged = agree(spec, "m", bytes.fromhex("02 3A 12"))
    assert flagged.values["data"] is None and flagged.flags == ["m -> data: invalid BCD digit A at digit 3 of 3A12"]
    with pytest.raises(FrameError) as info:
        spec.decode(bytes.fromhex("05"))
    assert "no layout for dif & 0x0F 0x05" in str(info.value)
    assert spec.encode("m", {"dif": 2, "data": -234}) == bytes.fromhex("02 34 F2")


def test_tables_checksums_over_fields_and_parametrised_crcs(make_spec):
    spec = make_spec(
        binary_spec(
            """
        - {name: code, type: u8}
        - {name: body, type: bytes, size: "lookup('sizes', code).size"}
        - {name: crc, type: checksum, algorithm: en13757, over: [code, body], endian: big}
        - {name: name, type: computed, value: "lookup('sizes', code).name"}
        """,
            extra=(
                "crcs:\n  en13757: {width: 16, poly: 0x3D65, xorout: 0xFFFF, check: 0xC2B7}\n"
                "tables:\n  sizes:\n    entries:\n"
                "      - {range: [1, 3], name: small, size: {start: 1, step: 1}}\n"
                "      - {code: 9, name: big, size: 4}\n"
            ),
        )
    )
    from core.spec.checksums import Crc

    body = bytes.fromhex("02 AABB")
    frame = body + Crc(16, 0x3D65, xorout=0xFFFF)(body).to_bytes(2, "big")
    assert agree(spec, "m", frame).values == {"code": 2, "body": b"\xaa\xbb", "name": "small"}
    assert spec.encode("m", {"code": 2, "body": "AABB"}) == frame
    with pytest.raises(ChecksumError) as info:
        spec.decode(frame[:-1] + b"\x00")
    assert info.value.path == "m -> crc" and "en13757 mismatch over code, body" in str(info.value)


def test_signed_text_weight_from_a_sign_and_a_magnitude():
    """Item 6 of the issue: the fg150kal spec's computed ``weight`` is -717.60 for ST,-00717.60 GN."""
    from core.spec import load_spec

    spec = load_spec(SPECS_DIR / "fg150kal.yaml")
    decoded = spec.decode(b"ST,-00717.60 GN", message="weight")
    assert decoded.values["weight"] == Decimal("-717.60") and str(decoded.values["weight"]) == "-717.60"
    assert decoded.values["value"] == Decimal("717.60")
    assert spec.encode("weight", decoded.values) == b"ST,-00717.60 GN"
    assert spec.decode(b"OL,-99999999 PC", message="weight").values["weight"] is None


# ---------------------------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("fields", "extra", "expected"),
    [
        (
            "- {name: a, type: u8}\n- {name: b, type: computed, value: 'aa + 1'}",
            "",
            "/messages/m/fields/1/value: unknown name 'aa' in 'aa + 1'; earlier fields: a; did you mean 'a'?",
        ),
        (
            "- {name: a, type: u8, if: 'b > 0'}\n- {name: b, type: u8}",
            "",
            "/messages/m/fields/0/if: unknown name 'b' in 'b > 0'; there is no earlier field",
        ),
        (
            "- {name: a, type: computed, value: \"lookup('nope', 1)\"}",
            "",
            "/messages/m/fields/0/value: unknown table 'nope' in \"lookup('nope', 1)\"; tables: (none)",
        ),
        (
            "- {name: a, type: u8}",
            "tables:\n  t:\n    entries: [{range: [0, 5], x: 1}, {code: 3, x: 2}]\n",
            "/tables/t/entries/1: code 0x03 is already covered by entry 0 of table 't'",
        ),
        (
            "- {name: a, type: array, of: string, chain: 7}",
            "",
            "/messages/m/fields/0/of: string needs one of size, size_from, until",
        ),
        (
            "- {name: a, type: array, of: {type: u8, enum: {x: 1}}, chain: 7}",
            "",
            "/messages/m/fields/0/chain: a chain holds plain integer elements (u8, say)",
        ),
        (
            "- {name: a, type: u8}\n- {name: c, type: checksum, algorithm: sum8, over: [b]}\n- {name: b, type: u8}",
            "",
            "/messages/m/fields/1/over: 'b' is not an earlier field of this struct; earlier fields: a",
        ),
        (
            "- {name: a, type: u8}",
            "crcs:\n  bad: {width: 16, poly: 0x3D65, check: 0x1234}\n",
            "/crcs/bad/check: the CRC of '123456789' is 0x3d48 with these parameters, not 0x1234",
        ),
        (
            "- {name: a, type: bytes, until: end, process: {transform: rot13}}",
            "",
            "/messages/m/fields/0/process/transform: unknown transform 'rot13'; transforms: aes128_cbc, aes128_ctr, crc_blocks",
        ),
        (
            "- {name: a, type: bytes, until: end, process: {transform: aes128_ctr, params: {key: '1', iv: '2', ivv: '3'}}}",
            "",
            "/messages/m/fields/0/process/params/ivv: unknown param 'ivv' of the transform 'aes128_ctr'; params: key, iv, crc; did you mean 'iv'?",
        ),
        (
            "- {name: a, type: u8}\n- {name: s, type: switch, on: 'a & 3', cases: {0: wat}}",
            "",
            "/messages/m/fields/1/cases/0: unknown type 'wat' for case 0; types: (none)",
        ),
    ],
)
def test_v2_mistakes_are_pathed_problems(spec_file, fields, extra, expected):
    assert problems_of(spec_file, binary_spec(fields, extra=extra)) == [expected]


def test_alternative_framings_need_a_first_byte(spec_file):
    text = binary_spec("- {name: a, type: u8}").replace(
        "framing: {length_field: {offset: 0, type: u8, max_length: 255}}",
        "framing: {alternatives: [{fixed: {length: 1}}, {length_field: {offset: 1, type: u8, max_length: 9, start: '68'}}]}",
    )
    assert problems_of(spec_file, text) == [
        "/framing/alternatives/0/fixed: each alternative framing needs 'first_bytes': the first byte picks the framing"
    ]
