"""Property tests: build -> parse round trips, random bytes, decoder forms agreeing, framers and splits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_testing import SPECS_DIR

from core.errors import FrameError
from core.spec import Spec, load_spec
from core.spec.examples import example_frame

GAS = load_spec(SPECS_DIR / "gas_meter.yaml")
SCALE = load_spec(SPECS_DIR / "fg150kal.yaml")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
uid = st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=8)


@st.composite
def reports(draw):
    eid = draw(st.sampled_from(["normal", "timestamp", "event", "init"]))
    if eid == "event":
        code = draw(st.one_of(st.sampled_from(["magnetic", "rotation_speed"]), u8.filter(lambda c: c not in (1, 2))))
    else:
        code = draw(u8)
    return {
        "eid": eid,
        "uid": draw(uid),
        "counts": draw(st.lists(st.fixed_dictionaries({"ts": u32, "count": u32}), min_size=24, max_size=24)),
        "battery": draw(u8),
        "uptime": draw(u32),
        "event_code": code,
        "seconds_per_rotation": draw(u16),
    }


replies = st.fixed_dictionaries(
    {
        "rc": st.fixed_dictionaries({k: st.booleans() for k in ("ts", "minmax", "io", "count", "server", "uid")}),
        "uid": uid,
        "ts_now": u32,
        "ts_next": u32,
        "count": u32,
        "min": u16,
        "max": u16,
        "host": st.tuples(u8, u8, u8, u8).map(lambda t: ".".join(map(str, t))),
        "port": u16,
        "io_flag": u8,
    }
)


def all_forms(spec: Spec, message: str, frame: bytes):
    """Decode with the plain and compiled structs (and the fast path); they must agree."""
    plain = spec.parse_with(message, frame, "plain")
    compiled = spec.parse_with(message, frame, "compiled")
    assert (compiled.values, compiled.flags) == (plain.values, plain.flags)
    if spec.structs[message].fast is not None:
        generated = spec.structs[message].fast(frame)
        if generated is None:  # a variable layout's fast path leaves frames with findings to construct
            assert plain.flags and spec.structs[message].fast_keys is not None
        else:
            assert generated == (plain.values, plain.flags)
    return plain


@SETTINGS
@given(reports())
def test_report_values_build_and_parse_back(values):
    frame = GAS.encode("report", values)
    assert len(frame) == 256
    decoded = all_forms(GAS, "report", frame)
    assert decoded.values == values
    assert GAS.decode(frame).values == values
    unknown_event = values["eid"] == "event" and isinstance(values["event_code"], int)
    expected_flags = (
        [f"report -> event_code: unknown value {values['event_code']} for enum event_code"] if unknown_event else []
    )
    assert decoded.flags == expected_flags


@SETTINGS
@given(replies)
def test_reply_values_build_and_parse_back(values):
    frame = GAS.encode("reply", values)
    assert len(frame) == 32 and bin(frame[0]).count("1") % 2 == 0
    assert all_forms(GAS, "reply", frame).values == values


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_frame_errors(data):
    for spec in (GAS, SCALE):
        for message in spec.messages:
            for which in ("plain", "compiled"):
                try:
                    spec.parse_with(message, data, which)
                except FrameError:
                    pass
        try:
            spec.decode(data)
        except FrameError:
            pass


@SETTINGS
@given(
    st.sampled_from([e for e in GAS.model.examples if "hex" in e]),
    st.lists(st.tuples(st.integers(0, 255), u8), max_size=4),
)
def test_mutated_frames_decode_the_same_in_every_form(example, mutations):
    frame = bytearray(example_frame(example))
    for position, value in mutations:
        if position < len(frame):
            frame[position] = value
    message = "report" if len(frame) == 256 else "reply"
    outcomes = []
    for which in ("fast", "plain", "compiled"):
        try:
            d = GAS.parse_with(message, bytes(frame), which)
            outcomes.append(("ok", d.values, d.flags))
        except FrameError:
            outcomes.append(("error",))
    if outcomes[1][0] == "ok":
        assert outcomes[0] == outcomes[1] == outcomes[2]
    else:
        assert outcomes[2] == ("error",)


@SETTINGS
@given(
    st.sampled_from(["ST", "US", "QT", "WT", "OL"]),
    st.sampled_from([None, "HI", "OK", "LO", "--"]),
    st.sampled_from(["+", "-"]),
    st.integers(0, 9999999),
    st.integers(0, 4),
    st.sampled_from(["kg", "lb", "oz", "PC", "g", "%", "GN", "ozt", "ct", None]),
)
def test_weight_values_build_and_parse_back(header, comparator, sign, digits, decimals, unit):
    from decimal import Decimal

    value = None if header == "OL" else Decimal(digits).scaleb(-decimals)
    values = {
        "header": header,
        "comparator": comparator,
        "sign": sign,
        "value": value,
        "decimals": decimals,
        "unit": unit,
    }
    decoded = all_forms(SCALE, "weight", SCALE.encode("weight", values))
    assert {k: decoded.values[k] for k in values} == values
    assert decoded.values["stable"] == (header in ("ST", "QT", "WT"))
    assert decoded.values["overload"] == (header == "OL")


# ---------------------------------------------------------------------- framers


def stream_of(spec: Spec) -> tuple[bytes, list[bytes]]:
    frames = [example_frame(e) for e in spec.model.examples if "error" not in e]
    if spec.model.framing.kind == "lines":
        return b"".join(f + b"\r\n" for f in frames), frames
    frames = [f for f in frames if len(f) == spec.model.framing.options["length"]]
    return b"".join(frames), frames


def run_framer(spec: Spec, chunks: list[bytes]) -> tuple[list[bytes], int]:
    framer = spec.new_framer()
    buffer = bytearray()
    frames: list[bytes] = []
    junk = 0
    for chunk in chunks:
        buffer += chunk
        while True:
            consumed, frame = framer.decode(buffer)
            if consumed == 0 and frame is None:
                break
            assert 0 < consumed <= len(buffer)
            del buffer[:consumed]
            if frame is None:
                junk += consumed
            else:
                assert len(frame) <= framer.max_frame_length
                frames.append(frame)
    return frames, junk


@pytest.mark.parametrize("spec", [GAS, SCALE], ids=lambda s: s.name)
def test_framer_concatenated_examples_give_every_frame(spec):
    stream, expected = stream_of(spec)
    assert run_framer(spec, [stream])[0] == expected


@pytest.mark.parametrize("spec", [GAS, SCALE], ids=lambda s: s.name)
def test_framer_split_at_every_offset(spec):
    stream, expected = stream_of(spec)
    for offset in range(len(stream) + 1):
        assert run_framer(spec, [stream[:offset], stream[offset:]])[0] == expected, offset


@pytest.mark.parametrize("spec", [GAS, SCALE], ids=lambda s: s.name)
def test_framer_byte_by_byte(spec):
    stream, expected = stream_of(spec)
    assert run_framer(spec, [stream[i : i + 1] for i in range(len(stream))])[0] == expected


@SETTINGS
@given(st.data())
def test_framers_random_chunking_and_leading_garbage(data):
    for spec in (GAS, SCALE):
        stream, expected = stream_of(spec)
        garbage = b"\x11\x22\x33" if spec is GAS else b"x" * 70 + b"\n"
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
        full = garbage + stream
        pieces = [full[a:b] for a, b in zip([0] + cuts, cuts + [len(full)], strict=False)]
        frames, junk = run_framer(spec, pieces)
        assert frames == expected and junk == len(garbage)


MIXED_FIELDS = """
- {name: a, type: u24, endian: little}
- {name: b, type: s48}
- {name: c, type: s16, scale: "0.01", offset: 5}
- {name: d, type: bcd, size: 3, signed: true, decimals: 1}
- {name: e, type: float64}
- {name: f, type: bits, size: 2, bits: [{name: x, bit: 15}, {name: y, bit: 4, width: 3}, {bit: 0, parity: even}]}
- {name: g, type: string, size: 5, pad: " "}
- {name: h, type: ipv4}
- {name: n, type: u8}
- {name: items, type: array, of: pair, count_from: n}
"""
MIXED_TYPES = """
pair:
  fields: [{name: p, type: u8}, {name: q, type: s24}]
"""


@pytest.fixture(scope="module")
def mixed_spec(tmp_path_factory):
    from spec_testing import binary_spec

    path = tmp_path_factory.mktemp("mixed") / "mixed.yaml"
    path.write_text(binary_spec(MIXED_FIELDS, types=MIXED_TYPES))
    return load_spec(path)


@st.composite
def mixed_values(draw):
    from decimal import Decimal

    return {
        "a": draw(st.integers(0, 2**24 - 1)),
        "b": draw(st.integers(-(2**47), 2**47 - 1)),
        "c": Decimal(draw(st.integers(-32768, 32767))).scaleb(-2) + 5,
        "d": Decimal(draw(st.integers(-99999, 99999))).scaleb(-1),
        "e": draw(st.floats(allow_nan=False)),
        "f": {"x": draw(st.booleans()), "y": draw(st.integers(0, 7))},
        "g": draw(st.text(alphabet="ABCxyz019", max_size=5).map(str.strip)),
        "h": ".".join(str(draw(u8)) for _ in range(4)),
        "items": draw(st.lists(st.fixed_dictionaries({"p": u8, "q": st.integers(-(2**23), 2**23 - 1)}), max_size=5)),
    }


@SETTINGS
@given(values=mixed_values())
def test_mixed_types_build_and_parse_back(mixed_spec, values):
    frame = mixed_spec.encode("m", values)
    assert all_forms(mixed_spec, "m", frame).values == values


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(st.sampled_from(sorted(GAS.messages) + sorted(SCALE.messages)), json_values, st.data())
def test_encode_of_bad_values_only_raises_frame_errors(message, junk, data):
    spec = GAS if message in GAS.messages else SCALE
    base = data.draw(
        st.sampled_from(
            [
                e["values"]
                for e in spec.model.examples
                if "values" in e and spec.decode(example_frame(e), e.get("message")).message == message
            ]
        )
    )
    values = dict(base)
    values[data.draw(st.sampled_from(sorted(values)))] = junk
    try:
        frame = spec.encode(message, values)
    except FrameError:
        return
    assert isinstance(frame, bytes)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_validate_spec_reports_problems_for_mangled_specs(tmp_path_factory, data):
    import yaml

    from core.spec import validate_spec

    source = data.draw(st.sampled_from([SPECS_DIR / "gas_meter.yaml", SPECS_DIR / "fg150kal.yaml"]))
    doc = yaml.safe_load(source.read_text())
    node = doc
    for _ in range(data.draw(st.integers(1, 5))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node, key=str)))
            if data.draw(st.booleans()) or not isinstance(node[key], (dict, list)):
                node[key] = data.draw(json_values.filter(lambda v: not isinstance(v, bytes)))
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[data.draw(st.integers(0, len(node) - 1))]
        else:
            break
    path = tmp_path_factory.mktemp("mangled") / "spec.yaml"
    path.write_text(yaml.safe_dump(doc))
    problems = validate_spec(path)
    assert all(not p.message.startswith("cannot check the spec") for p in problems), [str(p) for p in problems]


# switch on a bits member, an empty case and a length field over a struct (variable size: construct only)
SWITCHY_FIELDS = """
- {name: rc, type: bits, bits: [{name: ack, bit: 7}, {name: kind, bit: 0, width: 2, enum: {none: 0, pair: 1, blob: 2}}]}
- {name: body, type: switch, on: rc.kind, cases: {none: [], pair: pair_body, blob: blob_body}}
- {name: tail, type: u8}
"""
SWITCHY_TYPES = """
pair_body:
  fields: [{name: a, type: u8}, {name: b, type: u16}]
blob_body:
  fields: [{name: n, type: u8, length_of: inner, adjust: 1}, {name: inner, type: inner_t}]
inner_t:
  fields: [{name: x, type: u16}, {name: y, type: s8}]
"""
# a fixed layout switched on a one-bit member: the fast path must agree with construct
FIXED_SWITCHY_FIELDS = """
- {name: rc, type: bits, size: 2, endian: little, bits: [{name: wide, bit: 12}, {name: n, bit: 0, width: 3}]}
- {name: body, type: switch, on: rc.wide, cases: {0: two_bytes, 1: one_word}}
- {name: tail, type: u8}
"""
FIXED_SWITCHY_TYPES = """
two_bytes:
  fields: [{name: a, type: u8}, {name: b, type: u8}]
one_word:
  fields: [{name: w, type: u16, enum: {zero: 0}}]
"""


@pytest.fixture(scope="module")
def switchy_specs(tmp_path_factory):
    from spec_testing import binary_spec

    folder = tmp_path_factory.mktemp("switchy")
    specs = []
    for name, (fields, types) in {
        "switchy": (SWITCHY_FIELDS, SWITCHY_TYPES),
        "fixed": (FIXED_SWITCHY_FIELDS, FIXED_SWITCHY_TYPES),
    }.items():
        path = folder / f"{name}.yaml"
        path.write_text(binary_spec(fields, types=types))
        specs.append(load_spec(path))
    # the variable layout has the generated variable-layout decoder, the fixed one the one-unpack decoder
    assert specs[0].structs["m"].fast_keys is not None and specs[1].structs["m"].fast is not None
    assert specs[1].structs["m"].fast_keys is None
    return specs


@st.composite
def switchy_values(draw):
    kind = draw(st.sampled_from(["none", "pair", "blob"]))
    values = {"rc": {"ack": draw(st.booleans()), "kind": kind}, "tail": draw(u8)}
    if kind == "pair":
        values.update(a=draw(u8), b=draw(u16))
    if kind == "blob":
        values["inner"] = {"x": draw(u16), "y": draw(st.integers(-128, 127))}
    return values


@SETTINGS
@given(values=switchy_values())
def test_bits_switch_empty_case_and_length_build_and_parse_back(switchy_specs, values):
    spec = switchy_specs[0]
    frame = spec.encode("m", values)
    assert all_forms(spec, "m", frame).values == values
    assert spec.encode("m", spec.decode(frame).values) == frame


fixed_switchy_frames = st.builds(  # a valid rc (unused bits clear) and random bytes after it
    lambda wide, n, rest: ((wide << 12) | n).to_bytes(2, "little") + rest,
    st.integers(0, 1),
    st.integers(0, 7),
    st.binary(min_size=2, max_size=4),
)


@SETTINGS
@given(st.one_of(fixed_switchy_frames, st.binary(max_size=8)))
def test_bits_switch_forms_agree_on_random_bytes(switchy_specs, data):
    for spec in switchy_specs:
        try:
            decoded = all_forms(spec, "m", data)
        except FrameError:
            for which in ("compiled", "fast") if spec.structs["m"].fast else ("compiled",):
                with pytest.raises(FrameError):
                    spec.parse_with("m", data, which)
            continue
        assert spec.encode("m", decoded.values) == data
