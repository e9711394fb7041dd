"""The generated fast builder against construct: same bytes for valid values, same error for invalid ones.

Every fixed-layout message of the bundled specs and of the specs below is checked on its examples and on
values drawn from its own model (valid ones must round-trip), then on those values with one thing broken
(a key left out or added, an out-of-range integer, a wrong type, an unknown label) anywhere in them.
"""

from __future__ import annotations

import string
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_testing import SPECS_DIR, binary_spec

from core.errors import FrameError
from core.spec import Spec, load_spec
from core.spec.checks import int_range
from core.spec.codecs import scale_value
from core.spec.examples import example_frame
from core.spec.types import FieldModel, StructModel
from core.spec.unshape import unshape_struct

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# every kind a fixed layout can hold: odd-sized and little-endian integers, enum, const, scale and offset, BCD,
# floats of both byte orders, bits with an enum member and a parity bit, padded strings, constant bytes and
# text, ipv4, reserved bytes, arrays of structs and of integers, a nested struct with a default, a default at
# the top, and three checksums (one covering another)
ALL_KINDS_FIELDS = """
- {name: magic, type: u16, const: 0x55AA}
- {name: kind, type: u8, enum: {ping: 1, data: 2}}
- {name: a, type: u24, endian: little}
- {name: b, type: s48}
- {name: c, type: s16, scale: "0.01", offset: 5}
- {name: le, type: u32, endian: little}
- {name: sl, type: s16, endian: little}
- {name: d, type: bcd, size: 3, signed: true, decimals: 1}
- {name: n, type: bcd, size: 2}
- {name: e, type: float64}
- {name: e32, type: float32, endian: little}
- {name: sum, type: checksum, algorithm: sum8, start: 2}
- name: f
  type: bits
  size: 2
  endian: little
  bits:
    - {name: x, bit: 15}
    - {name: y, bit: 4, width: 3}
    - {name: mode, bit: 8, width: 2, enum: {off: 0, on: 1, auto: 2}}
    - {bit: 0, parity: odd}
- {name: g, type: string, size: 5, pad: " "}
- {name: r, type: string, size: 4, pad: "0", align: right}
- {name: u, type: string, size: 3}
- {name: tag, type: bytes, size: 2, const: "4D5A"}
- {name: hello, type: string, size: 2, const: "AT"}
- {name: key, type: bytes, size: 3}
- {name: h, type: ipv4}
- {type: reserved, size: 2, fill: 0xEE}
- {name: items, type: array, of: pair, count: 2}
- {name: words, type: array, of: s16, count: 3}
- {name: inner, type: pair}
- {name: opt, type: u8, default: 7}
- {name: crc, type: checksum, algorithm: crc16_modbus, endian: little}
- {name: tail, type: u8}
- {name: crc32, type: checksum, algorithm: crc32}
"""
ALL_KINDS_TYPES = """
pair:
  fields: [{name: p, type: u8}, {name: q, type: s24}, {type: reserved, size: 1}, {name: w, type: u16, default: 3}]
"""
# a switch on an enum field with a default case, and an xor8 over the whole message
ENUM_SWITCH_FIELDS = """
- {name: kind, type: u8, enum: {a: 1, b: 2, c: 3}}
- {name: body, type: switch, on: kind, cases: {a: body_a, b: body_b}, default: body_a}
- {name: sum, type: checksum, algorithm: xor8}
"""
ENUM_SWITCH_TYPES = """
body_a:
  fields: [{name: x, type: u16}]
body_b:
  fields: [{name: y, type: u8}, {name: z, type: s8}]
"""
# a switch on a one-bit member (test_properties' fixed layout) with an empty case
BITS_SWITCH_FIELDS = """
- {name: rc, type: bits, size: 2, endian: little, bits: [{name: wide, bit: 12}, {name: n, bit: 0, width: 3}]}
- {name: body, type: switch, on: rc.wide, cases: {0: two_bytes, 1: one_word}}
- {name: tail, type: u8}
"""
BITS_SWITCH_TYPES = """
two_bytes:
  fields: [{name: a, type: u8}, {name: b, type: u8}]
one_word:
  fields: [{name: w, type: u16, enum: {zero: 0}}]
"""
TEST_SPECS = {
    "all_kinds": (ALL_KINDS_FIELDS, ALL_KINDS_TYPES, "big"),
    "all_kinds_little": (ALL_KINDS_FIELDS, ALL_KINDS_TYPES, "little"),
    "enum_switch": (ENUM_SWITCH_FIELDS, ENUM_SWITCH_TYPES, "big"),
    "bits_switch": (BITS_SWITCH_FIELDS, BITS_SWITCH_TYPES, "big"),
}


def _load_all(folder: Any) -> list[tuple[Spec, str]]:
    specs = [load_spec(path) for path in sorted(SPECS_DIR.glob("*.yaml"))]
    for name, (fields, types, endian) in TEST_SPECS.items():
        path = folder / f"{name}.yaml"
        path.write_text(binary_spec(fields, types=types, endian=endian, direction="downlink"))
        specs.append(load_spec(path))
    return [(spec, name) for spec in specs for name, info in spec.messages.items() if info.size is not None]


@pytest.fixture(scope="module")
def fixed_messages(tmp_path_factory: Any) -> list[tuple[Spec, str]]:
    return _load_all(tmp_path_factory.mktemp("fastbuild"))


def test_every_fixed_layout_has_a_fast_builder(fixed_messages):
    names = [f"{spec.name}.{name}" for spec, name in fixed_messages]
    assert {"gas_meter.report", "gas_meter.reply", "mbus.ack", "mbus.short"} <= set(names) and len(names) == 8
    for spec, name in fixed_messages:
        assert spec.structs[name].fast_build is not None, name
        assert "def build(values):" in (spec.structs[name].fast_build_source or "")


@pytest.mark.parametrize("path", sorted(SPECS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_examples_build_the_same_bytes(path):
    spec = load_spec(path)
    checked = 0
    for example in spec.model.examples:
        if "values" not in example:
            continue
        message = spec.decode(example_frame(example), example.get("message")).message
        if spec.structs[message].fast_build is None:
            continue
        frame = example_frame(example)
        assert spec.build_with(message, example["values"], "fast") == frame, example["name"]
        assert spec.build_with(message, example["values"], "plain") == frame
        assert spec.build_with(message, example["values"], "compiled") == frame
        assert spec.encode(message, example["values"]) == frame
        checked += 1
    # a spec of text lines, or of variable layouts only (wmbus), has no example a fast builder builds
    assert checked or spec.framing.kind == "lines" or all(s.fast_build is None for s in spec.structs.values())


# ---------------------------------------------------------------------- values drawn from the model


def field_values(f: FieldModel) -> st.SearchStrategy[Any]:
    """Valid values of one field, as decoding gives them back (so they round-trip exactly)."""
    kind, size = f.kind, f.size or 0
    if kind == "int":
        lo, hi = int_range(size, f.signed)
        if f.enum:
            known = set(f.enum.values())
            return st.sampled_from(sorted(f.enum)) | st.integers(lo, hi).filter(lambda v: v not in known)
        if f.scale is not None or f.offset is not None:
            return st.integers(lo, hi).map(lambda raw: scale_value(raw, f.scale, f.offset))
        return st.integers(lo, hi)
    if kind == "float":
        return st.floats(width=32 if size == 4 else 64, allow_nan=False)
    if kind == "bytes":
        return st.binary(min_size=size, max_size=size)
    if kind == "string":
        if f.pattern:
            text = st.from_regex(f.pattern, fullmatch=True).filter(lambda t: t.isascii() and len(t) <= size)
        else:
            text = st.text(alphabet=string.ascii_letters + string.digits + " .", max_size=size)
        return text.filter(lambda t: not (t.endswith(f.pad) if f.align == "left" else t.startswith(f.pad)))
    if kind == "bcd":
        digits = size * 2 - (1 if f.bcd_signed else 0)
        numbers = st.integers(-(10**digits - 1) if f.bcd_signed else 0, 10**digits - 1)
        return numbers if f.decimals is None else numbers.map(lambda i: Decimal(i).scaleb(-(f.decimals or 0)))
    if kind == "ipv4":
        return st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
    if kind == "bits":
        members: dict[str, st.SearchStrategy[Any]] = {}
        for b in f.bits:
            if b.name is None:
                continue
            if b.enum:
                members[b.name] = st.sampled_from(sorted(b.enum))
            elif b.width == 1:
                members[b.name] = st.booleans()
            else:
                members[b.name] = st.integers(0, (1 << b.width) - 1)
        return st.fixed_dictionaries(members)
    if kind == "array":
        assert f.element is not None
        return st.lists(field_values(f.element), min_size=f.count or 0, max_size=f.count or 0)
    if kind == "struct":
        assert f.struct is not None
        return struct_values(f.struct)
    raise AssertionError(kind)


@st.composite
def struct_values(draw: Any, s: StructModel) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in s.fields:
        if f.hidden:
            continue
        if f.kind != "switch":
            values[f.name] = draw(field_values(f))
            continue
        key = draw(st.sampled_from(list(f.cases)))  # the case, and the value switched on that selects it
        assert f.switch_on is not None
        if f.switch_member is None:
            values[f.switch_on] = key
        else:
            on = next(g for g in s.fields if g.name == f.switch_on)
            member = next(b for b in on.bits if b.name == f.switch_member)
            values[f.switch_on][f.switch_member] = bool(key) if member.width == 1 and not member.enum else key
        values.update(draw(struct_values(f.cases[key])))
    return values


junk = st.one_of(
    st.sampled_from([-1, 256, 65536, 2**24, 2**32, 2**47, 2**48, 2**64, -(2**63) - 1, True, False, None]),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.decimals(allow_nan=False, places=3),
    st.text(max_size=6),
    st.just("no_such_label"),
    st.binary(max_size=4),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["x", "p", "ts", "bogus"]), st.integers(0, 3), max_size=2),
)


def _slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every dict entry and list item inside the values."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found.append((*path, key))
        found += _slots(item, (*path, key))
    return found


@st.composite
def broken(draw: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The values with one thing broken: an entry replaced by junk or left out, or an unknown name added."""
    slots = _slots(values)
    if not slots:  # a message without values (a constant only): the one thing to break is an unknown name
        values[draw(st.sampled_from(["bogus", "magic"]))] = draw(junk)
        return values
    path = draw(st.sampled_from(slots))
    parent: Any = values
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "add":
        target = parent if isinstance(parent, dict) else values
        target[draw(st.sampled_from(["bogus", "magic", "sum"]))] = draw(junk)
    elif action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(junk)
    return values


def outcome(func: Any, *args: Any) -> tuple[Any, ...] | None:
    """What a build gives: ("ok", bytes), the error's class, text, path, expected and found, or None."""
    try:
        result = func(*args)
    except FrameError as exc:
        return ("error", type(exc), str(exc), exc.path, repr(exc.expected), repr(exc.found))
    except Exception as exc:  # a non-FrameError must at least be the same one
        return ("raises", type(exc), str(exc))
    return None if result is None else ("ok", result)


def check_same(spec: Spec, name: str, values: dict[str, Any]) -> tuple[Any, ...]:
    expected = outcome(spec.build_with, name, values, "plain")
    fast = outcome(spec.structs[name].fast_build, values)
    assert expected is not None
    if fast is None:  # left to construct: never a FrameError the checks before construct's build give
        early = outcome(unshape_struct, spec.model.messages[name].struct, values, [name])
        assert early is not None and early[0] != "error", f"the fast builder left a checked error to construct: {early}"
    else:
        assert fast == expected
    assert outcome(spec.encode, name, values) == expected
    return expected


@SETTINGS
@given(data=st.data())
def test_fast_builder_matches_construct_on_valid_values(fixed_messages, data):
    spec, name = data.draw(st.sampled_from(fixed_messages))
    message = spec.model.messages[name]
    assert message.struct is not None
    values = data.draw(struct_values(message.struct))
    frame = spec.structs[name].fast_build(values)
    assert frame is not None, "valid values of the usual types are built by the fast builder"
    assert frame == spec.build_with(name, values, "plain") == spec.build_with(name, values, "compiled")
    assert len(frame) == message.size
    decoded = spec.decode(frame, message=name)
    assert decoded.values == values
    check_same(spec, name, values)


@SETTINGS
@given(data=st.data())
def test_fast_builder_raises_the_construct_error_on_broken_values(fixed_messages, data):
    spec, name = data.draw(st.sampled_from(fixed_messages))
    message = spec.model.messages[name]
    assert message.struct is not None
    values = data.draw(broken(data.draw(struct_values(message.struct))))
    check_same(spec, name, values)


@SETTINGS
@given(data=st.data())
def test_left_out_defaults_and_bits_build_the_same(fixed_messages, data):
    """Values a decode never gives: defaults and bits members left out, bytes as hex text, ints for floats."""
    spec, name = data.draw(st.sampled_from(fixed_messages))
    message = spec.model.messages[name]
    assert message.struct is not None
    values = data.draw(struct_values(message.struct))
    for f in message.struct.fields:
        if f.has_default and data.draw(st.booleans()):
            values.pop(f.name, None)
        if f.kind == "bits" and f.name in values:
            for member in list(values[f.name]):
                if data.draw(st.booleans()) and not any(s.switch_member == member for s in message.struct.fields):
                    del values[f.name][member]
        if f.kind == "bytes" and f.name in values and data.draw(st.booleans()):
            values[f.name] = values[f.name].hex()
        if f.kind == "float" and f.name in values and data.draw(st.booleans()):
            values[f.name] = data.draw(st.integers(-(2**20), 2**20))
    assert check_same(spec, name, values)[0] == "ok"
    assert spec.structs[name].fast_build(values) is not None


@pytest.mark.parametrize(
    "values, path",
    [
        ({"ts_now": 1}, "reply -> rc"),  # the first missing value
        ({"rc": {}, "uid": "D4245A98", "ts_now": -1}, "reply -> ts_now"),
        ({"rc": {"ts": 1}}, "reply -> rc -> ts"),
        ({"rc": {}, "uid": "d4245a98"}, "reply -> uid"),
        ({"rc": {"bogus": True}}, "reply -> rc"),
    ],
)
def test_gas_meter_reply_errors_name_the_field(values, path):
    spec = load_spec(SPECS_DIR / "gas_meter.yaml")
    with pytest.raises(FrameError) as fast:
        spec.structs["reply"].fast_build(values)
    with pytest.raises(FrameError) as plain:
        spec.build_with("reply", values, "plain")
    assert fast.value.path == plain.value.path == path
    assert str(fast.value) == str(plain.value)


def test_generated_source_is_plain_python_over_the_model():
    spec = load_spec(SPECS_DIR / "gas_meter.yaml")
    source = spec.structs["reply"].fast_build_source or ""
    assert source.count(".pack(") == 1 and "eval(" not in source
    assert "if r2.bit_count() & 1:" in source or "bit_count() & 1" in source  # the even parity bit
