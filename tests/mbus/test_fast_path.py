"""The generated M-Bus decoder agrees with the construct struct: on every example, every libmbus frame and
frames made up by hypothesis (valid ones, and the same with bytes changed); what decodes builds back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mbus_testing import same

from core.errors import FrameError
from core.spec import load_spec
from core.spec.checksums import Crc
from core.spec.examples import example_frame

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(ROOT / "specs" / "mbus.yaml")
VECTORS = sorted((Path(__file__).with_name("vectors") / "libmbus").glob("*.hex"))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: data bytes of each DIF coding (0x0D, variable length, is made separately)
CODING_SIZE = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 6, 7: 8, 8: 0, 9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}


def agree(frame: bytes, message: str = "long"):
    """Decode with the generated path and the construct struct: the same values, or both fail."""
    structs = SPEC.structs[message]
    assert structs.fast_keys is not None, "the M-Bus long frame has a generated decoder"
    generated = structs.fast(frame)
    try:
        plain = SPEC.parse_with(message, frame, "plain")
    except FrameError:
        assert generated is None
        return None
    if generated is None:  # left to construct: only a frame with findings (invalid BCD digits, say)
        assert plain.flags
    else:
        assert same(generated, (plain.values, plain.flags))
    return plain


def chain(draw, count_max: int, low: int = 0, high: int = 0x7F) -> list[int]:
    items = draw(st.lists(st.integers(low, high), max_size=count_max))
    return [b | 0x80 for b in items[:-1]] + items[-1:]


@st.composite
def records(draw) -> bytes:
    special = draw(st.sampled_from([None] * 8 + [0x0F, 0x1F, 0x2F]))
    if special in (0x0F, 0x1F):
        return bytes([special]) + draw(st.binary(max_size=6))  # manufacturer data to the end
    if special == 0x2F:
        return b"\x2f"
    coding = draw(st.sampled_from([*CODING_SIZE, 0x0D]))
    difes = chain(draw, 3)
    dif = coding | draw(st.integers(0, 3)) << 4 | draw(st.integers(0, 1)) << 6 | (0x80 if difes else 0)
    kind = draw(st.sampled_from(["primary", "primary", "fb", "fd", "text"]))
    vifes = chain(draw, 2)
    if kind == "primary":
        code = draw(st.integers(0, 0x7A).filter(lambda c: c not in (0x6C, 0x6D)) | st.sampled_from([0x6C, 0x6D]))
        vif = bytes([code | (0x80 if vifes else 0)])
    elif kind in ("fb", "fd"):
        first = draw(st.integers(0, 0x7F))
        vifes = [first | (0x80 if vifes else 0), *vifes]
        vif = bytes([0xFB if kind == "fb" else 0xFD])
    else:
        text = draw(st.text("abcdefgh %.", min_size=1, max_size=6)).encode()
        vif = bytes([0x7C | (0x80 if vifes else 0), len(text)]) + text[::-1]
    if coding == 0x0D:
        lvar = draw(st.sampled_from(["text", "bcd", "binary"]))
        if lvar == "text":
            text = draw(st.text("ABC xyz", max_size=8)).encode()
            data = bytes([len(text)]) + text
        elif lvar == "bcd":
            digits = draw(st.text("0123456789", min_size=2, max_size=8).filter(lambda t: len(t) % 2 == 0))
            data = bytes([0xC0 + len(digits) // 2]) + bytes.fromhex(digits)[::-1]
        else:
            size = draw(st.integers(0, 6))
            data = bytes([0xE0 + size]) + draw(st.binary(min_size=size, max_size=size))
    else:
        size = CODING_SIZE[coding]
        if coding in (9, 0xA, 0xB, 0xC, 0xE) and draw(st.booleans()):  # valid BCD mostly
            digits = draw(st.text("0123456789", min_size=size * 2, max_size=size * 2))
            data = bytes.fromhex(digits)[::-1] if digits else b""
        else:
            data = draw(st.binary(min_size=size, max_size=size))
    return bytes([dif, *difes]) + vif + bytes(vifes) + data


@st.composite
def long_frames(draw) -> bytes:
    body = bytearray([0x08, draw(st.integers(0, 250)), 0x72])
    body += bytes.fromhex(draw(st.text("0123456789", min_size=8, max_size=8)))
    body += draw(st.binary(min_size=8, max_size=8))
    items = draw(st.lists(records(), max_size=6))
    for item in items:
        body += item
        if item[0] in (0x0F, 0x1F):
            break  # manufacturer data runs to the end of the frame
    if len(body) > 252:
        body = body[:252]
    return bytes([0x68, len(body), len(body), 0x68]) + bytes(body) + bytes([sum(body) & 0xFF, 0x16])


@pytest.mark.parametrize("index", range(len(SPEC.model.examples)))
def test_every_example_agrees(index):
    example = SPEC.model.examples[index]
    frame = example_frame(example)
    for name in SPEC.messages:
        if SPEC.structs[name].fast is not None:
            generated = SPEC.structs[name].fast(frame)
            try:
                plain = SPEC.parse_with(name, frame, "plain")
            except FrameError:
                assert generated is None
                continue
            assert (generated is None and plain.flags) or same(generated, (plain.values, plain.flags))


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_every_libmbus_frame_agrees(path):
    decoded = agree(bytes.fromhex(path.read_text()))
    assert decoded is not None


def test_the_generated_path_decodes_every_libmbus_frame_itself():
    """All 54 decode in the generated code, the three with findings (invalid BCD digits) included."""
    frames = [bytes.fromhex(p.read_text()) for p in VECTORS]
    generated = [f for f in frames if SPEC.structs["long"].fast(f) is not None]
    assert len(generated) == 54
    assert "def decode(frame, keys=None):" in (SPEC.structs["long"].fast_source or "")


@SETTINGS
@given(long_frames())
def test_generated_frames_agree_and_build_back(frame):
    decoded = agree(frame)
    assert decoded is not None, "a well-formed frame decodes"
    if not decoded.flags and b"\x2f" not in frame[19:]:
        rebuilt = SPEC.encode("long", decoded.values)
        assert SPEC.decode(rebuilt).values == decoded.values
        assert rebuilt == frame


@SETTINGS
@given(long_frames(), st.data())
def test_changed_frames_agree(frame, data):
    index = data.draw(st.integers(0, len(frame) - 1))
    changed = bytearray(frame)
    changed[index] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):  # keep the checksum right, so the change reaches the records
        changed[-2] = sum(changed[4:-2]) & 0xFF
    agree(bytes(changed))


@SETTINGS
@given(st.binary(max_size=40))
def test_random_bytes_agree(data):
    agree(data)


# ---------------------------------------------------------------------------------------------- wireless M-Bus

WMBUS = load_spec(ROOT / "specs" / "wmbus.yaml")
CRC = Crc(16, 0x3D65, xorout=0xFFFF)


@st.composite
def telegrams(draw) -> bytes:
    """Wireless M-Bus telegrams (CRCs removed): link layer, then a short or long transport header (security
    mode 0, 5 handed over decrypted, or a mode the spec keeps as bytes), no header, an ELL or an AFL first."""
    link = bytes([0x44]) + draw(st.binary(min_size=2, max_size=2))
    link += bytes.fromhex(draw(st.text("0123456789", min_size=8, max_size=8))) + draw(st.binary(min_size=2, max_size=2))
    records_data = b"".join(draw(st.lists(records(), max_size=5)))
    mode = draw(st.sampled_from([0, 0, 5, 16]))
    data = b"\x2f\x2f" + records_data if mode == 5 else records_data
    configuration = (mode << 8 | (len(data) // 16) << 4).to_bytes(2, "little")
    short = bytes([0x7A, draw(st.integers(0, 255)), 0]) + configuration + data
    kind = draw(st.sampled_from(["short", "long", "none", "ell", "afl"]))
    if kind == "long":
        body = bytes([0x72]) + link[3:7] + link[1:3] + link[7:9] + short[1:]
    elif kind == "none":
        body = bytes([0x78]) + records_data
    elif kind == "ell":
        body = bytes([0x8C, 0x20, draw(st.integers(0, 255))]) + short
    elif kind == "afl":
        body = bytes.fromhex("90 0F 002C 25") + draw(st.binary(min_size=12, max_size=12)) + short
    else:
        body = short
    frame = link + body
    return bytes([len(frame)]) + frame[:254]


def wagree(frame: bytes, message: str) -> object:
    generated = WMBUS.structs[message].fast_keys(frame, None)
    try:
        plain = WMBUS.parse_with(message, frame, "plain")
    except FrameError:
        assert generated is None
        return None
    assert (generated is None and plain.flags) or same(generated, (plain.values, plain.flags))
    return plain


def with_block_crcs(telegram: bytes, first: int, size: int) -> bytes:
    out, position, block = bytearray(), 0, first
    while position < len(telegram):
        chunk = telegram[position : position + block]
        out += chunk + CRC(chunk).to_bytes(2, "big")
        position, block = position + len(chunk), size
    return bytes(out)


@SETTINGS
@given(telegrams())
def test_generated_telegrams_agree_in_every_framing(frame):
    frame = bytes([len(frame) - 1]) + frame[1:]
    assert wagree(frame, "telegram") is not None, "a well-formed telegram decodes"
    assert wagree(with_block_crcs(frame, 10, 16), "format_a") is not None
    b = bytes([frame[0] + (4 if len(frame) > 126 else 2)]) + frame[1:]
    assert wagree(with_block_crcs(b, 126, 126), "format_b") is not None


@SETTINGS
@given(telegrams(), st.data())
def test_changed_telegrams_agree(frame, data):
    frame = bytes([len(frame) - 1]) + frame[1:]
    changed = bytearray(frame)
    changed[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    wagree(bytes(changed), "telegram")
