"""The validation pipeline: YAML positions, schema messages, semantic checks, examples, SpecError."""

from __future__ import annotations

import pytest
from spec_testing import SPECS_DIR

from core.errors import ConfigError, SpecError
from core.plugins import spec_registry
from core.spec import Problem, SpecRegistry, load_spec, validate_spec

HEAD = "meta: {name: t}\nframing: {fixed: {length: 2}}\n"


def only_problem(path) -> Problem:
    problems = validate_spec(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_problem_text_format():
    problem = Problem("specs/x.yaml", 12, 5, "/messages/report/fields/3/type", "expected one of u8, got 'u17'")
    assert str(problem) == "specs/x.yaml:12:5: /messages/report/fields/3/type: expected one of u8, got 'u17'"


def test_bad_type_name_lists_the_choices(spec_file):
    path = spec_file(
        HEAD
        + "messages:\n  report:\n    direction: uplink\n    fields:\n      - {name: a, type: u8}\n      - {name: b, type: u17}\n"
    )
    problem = only_problem(path)
    assert (problem.file, problem.line, problem.col) == (str(path), 8, 25)
    assert problem.pointer == "/messages/report/fields/1/type"
    assert problem.message.startswith("expected one of u8, u16, u24, u32, u48, u64, s8, s16,")
    assert problem.message.endswith(", got 'u17'")


def test_unknown_key_lists_allowed_keys_and_suggests(spec_file):
    path = spec_file(
        HEAD + "messages:\n  report:\n    direction: uplink\n    fields:\n      - {name: b, type: bytes, sise: 1}\n"
    )
    problem = only_problem(path)
    assert problem.pointer == "/messages/report/fields/0/sise"
    assert (problem.line, problem.col) == (7, 32)
    assert problem.message == (
        "unknown key 'sise'; allowed keys: const, default, description, if, name, process, reverse, show, size, "
        "size_from, type, until; did you mean 'size'?"
    )


def test_unknown_top_level_key(spec_file):
    path = spec_file(HEAD + "mesages: {}\nmessages:\n  m: {direction: uplink, fields: [{name: a, type: u16}]}\n")
    problem = only_problem(path)
    assert problem.pointer == "/mesages"
    assert problem.message == (
        "unknown key 'mesages'; allowed keys: crcs, enums, examples, framing, messages, meta, tables, types; did you mean 'messages'?"
    )


def test_key_of_another_type(spec_file):
    path = spec_file(HEAD + "messages:\n  m: {direction: uplink, fields: [{name: a, type: u16, size: 2}]}\n")
    problem = only_problem(path)
    assert problem.pointer == "/messages/m/fields/0/size"
    assert problem.message.startswith("key 'size' is not allowed for type u16; allowed keys: adjust, const, default,")


@pytest.mark.parametrize(
    "fields, pointer, message",
    [
        (
            "[{name: a, type: u8}, {name: a, type: u8}]",
            "/messages/m/fields/1/name",
            "duplicate field name 'a' (also at /messages/m/fields/0)",
        ),
        (
            "[{name: a, type: u8, enum: {x: 300}}, {name: b, type: u8}]",
            "/messages/m/fields/0/enum/x",
            "enum value x=300 does not fit u8 (0..255)",
        ),
        (
            "[{name: n, type: array, of: u8, count_from: k}, {name: k, type: u8}]",
            "/messages/m/fields/0/count_from",
            "'k' must be an earlier field than 'n'",
        ),
        (
            "[{name: a, type: u8}, {name: c, type: checksum, algorithm: sum8, start: 0, end: 5}]",
            "/messages/m/fields/1/end",
            "checksum range 0..5 must be non-empty and end at or before the checksum at offset 1",
        ),
        (
            "[{name: a, type: u8}, {name: c, type: checksum, algorithm: crc8}]",
            "/messages/m/fields/1/algorithm",
            "expected one of crc16_ccitt, crc16_modbus, crc32, sum8, xor8, got 'crc8'; did you mean 'crc32'?",
        ),
        (
            "[{name: a, type: u8, const: 256}, {name: b, type: u8}]",
            "/messages/m/fields/0/const",
            "const 256 does not fit u8 (0..255)",
        ),
        (
            "[{name: f, type: bits, bits: [{name: x, bit: 8}]}, {name: b, type: u8}]",
            "/messages/m/fields/0/bits/0",
            "bits 8..8 do not fit a 8-bit field",
        ),
        (
            "[{type: reserved, size: 2, fill: 256}]",
            "/messages/m/fields/0/fill",
            "fill must be a byte value 0..255, got 256",
        ),
        (
            "[{name: a, type: u8, enum: {one: 1}}, {name: s, type: switch, on: a, cases: {two: b}}]",
            "/messages/m/fields/1/cases/two",
            "case 'two' is not a value of enum 'a': expected one of one",
        ),
        (
            "[{name: a, type: u8}, {name: s, type: switch, on: a, cases: {300: b}}]",
            "/messages/m/fields/1/cases/300",
            "case 300 does not fit u8 field 'a' (0..255)",
        ),
        (
            "[{name: l, type: u8, length_of: x}, {name: b, type: u8}]",
            "/messages/m/fields/0/length_of",
            "'x' is not a field of this struct; fields: b",
        ),
        (
            "[{name: a, type: u16}, {name: b, type: u8}]",
            "/framing/fixed/length",
            "fixed framing length 2 does not match message 'm' of 3 bytes",
        ),
    ],
)
def test_semantic_checks(spec_file, fields, pointer, message):
    types = "types:\n  b:\n    fields: [{name: z, type: u8}]\n"
    path = spec_file(HEAD + types + f"messages:\n  m:\n    direction: uplink\n    fields: {fields}\n")
    problem = only_problem(path)
    assert (problem.pointer, problem.message) == (pointer, message)
    assert problem.line >= 1 and problem.col >= 1


def test_text_message_checks(spec_file):
    path = spec_file("""
        meta: {name: t}
        framing: {lines: {max_length: 10}}
        messages:
          m:
            direction: uplink
            text:
              columns: true
              template: "{a}{b}"
              fields: [{name: a, columns: [0, 3], type: str}, {name: b, columns: [2, 4], type: str}]
    """)
    problem = only_problem(path)
    assert (problem.pointer, problem.message) == (
        "/messages/m/text/fields/1/columns",
        "columns 2..4 overlap field 'a' (0..3)",
    )


def test_examples_are_run(spec_file):
    path = spec_file(
        HEAD
        + """messages:
  m: {direction: downlink, fields: [{name: a, type: u8}, {name: b, type: u8, default: 1}]}
examples:
  - {name: wrong value, hex: "0102", values: {a: 1, b: 3}}
  - {name: build differs, hex: "0101", values: {a: 1}}
"""
    )
    problems = validate_spec(path)
    assert [p.pointer for p in problems] == ["/examples/0/values", "/examples/1/values"]
    assert problems[0].message == "example 'wrong value' (m): b: expected 3, decoded 2"
    assert problems[1].message == "example 'build differs' (m): b: decoded 1, not expected"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.problems == problems


def test_invalid_yaml_and_missing_file(spec_file, tmp_path):
    problem = only_problem(spec_file("meta: {name: t\n"))
    assert problem.message.startswith("invalid YAML")
    missing = tmp_path / "nope.yaml"
    assert only_problem(missing).message == f"no such file: {missing}"


def test_yaml_duplicate_key(spec_file):
    problem = only_problem(
        spec_file(HEAD + "meta: {name: u}\nmessages:\n  m: {direction: uplink, fields: [{name: a, type: u16}]}\n")
    )
    assert (problem.pointer, problem.message, problem.line) == ("/meta", "duplicate key 'meta'", 3)


MERGED = """\
meta: {name: merged}
framing: {length_field: {offset: 0, type: u8, max_length: 255}}
types:
  base: &base_type
    description: the base layout
    fields: [{name: x, type: u8}]
  wide:
    <<: *base_type
    fields: [{name: x, type: u16}]
messages:
  up: &up
    direction: uplink
    description: from the device
    fields: [{name: x, type: u8}]
  down:
    <<: [{direction: uplink, description: "listed first wins"}, *up]
    direction: downlink
    fields: [{name: b, type: wide}]
"""


def test_yaml_merge_keys_explicit_keys_override(spec_file, tmp_path):
    from core.spec import load_spec

    path = spec_file(MERGED)
    assert validate_spec(path) == []
    spec = load_spec(path)
    assert list(spec.messages) == ["up", "down"]
    assert spec.messages["down"].direction == "downlink"  # explicit over merged: no duplicate key
    assert spec.messages["down"].description == "listed first wins"  # the first merged mapping wins
    assert spec.encode("down", {"b": {"x": 0x1234}}) == b"\x12\x34"  # wide overrides base's fields
    # two explicit keys are still a duplicate, next to a merge, with line and column
    problem = only_problem(
        spec_file(MERGED.replace("    direction: downlink\n", "    direction: downlink\n    direction: uplink\n"))
    )
    assert (problem.pointer, problem.message, problem.line, problem.col) == (
        "/messages/down/direction",
        "duplicate key 'direction'",
        18,
        5,
    )
    problem = only_problem(spec_file(MERGED.replace("<<: *base_type", "<<: 5")))
    assert (problem.pointer, problem.message) == ("/types/wide", "a merge key '<<' needs a mapping or a list of them")


def test_registry():
    registry = spec_registry()
    assert registry.names() == sorted(registry.names())
    assert {"gas_meter", "fg150kal"} <= set(registry.names())
    assert registry.get("gas_meter").name == "gas_meter"
    with pytest.raises(ConfigError) as info:
        registry.get("gas_metre")
    assert "gas_metre" in str(info.value) and "gas_meter" in str(info.value)
    own = SpecRegistry([load_spec(SPECS_DIR / "fg150kal.yaml")])
    assert own.names() == ["fg150kal"] and "fg150kal" in own and len(own) == 1


def test_unresolved_array_type_suggests_the_spec_type(spec_file):
    path = spec_file(
        HEAD
        + """types:
  count_slot:
    fields: [{name: a, type: u8}]
messages:
  m: {direction: uplink, fields: [{name: c, type: array, of: count_slots, count: 2}]}
"""
    )
    problem = only_problem(path)
    assert problem.pointer == "/messages/m/fields/0/of"
    assert problem.message.endswith("checksum, computed, count_slot, got 'count_slots'; did you mean 'count_slot'?")


@pytest.mark.parametrize("name", ["gas_meter", "fg150kal", "mbus", "wmbus"])
def test_specs_are_parsed_by_libyaml_with_the_pure_python_parsers_nodes_and_positions(name):
    import yaml

    from core.spec import loader

    assert loader._COMPOSER is yaml.CSafeLoader  # the PyYAML wheels are built with libyaml

    def walk(node):
        yield type(node).__name__, node.tag, node.start_mark.line, node.start_mark.column
        if isinstance(node, yaml.ScalarNode):
            yield node.value
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from walk(item)
        else:
            for key, value in node.value:
                yield from walk(key)
                yield from walk(value)

    text = (SPECS_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    assert list(walk(loader._compose(text))) == list(walk(yaml.compose(text, Loader=yaml.SafeLoader)))
