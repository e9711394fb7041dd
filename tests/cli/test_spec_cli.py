"""The spec commands (``validate-spec``, ``decode``, ``encode``, ``specs``) through ``core.cli.main``, and
the same invocations through ``python -m core`` and the installed ``specgate`` script."""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from core.cli import main
from core.plugins import ENTRY_POINT_GROUP
from specs import bundled_spec_paths

SPECS_DIR = bundled_spec_paths()[0].parent
SCALE_LINE = b"ST,+00053.25 kg\r\n"
T0 = 1741190400


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: bytes = b""
) -> Result:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def run_process(command: list[str], cwd: Path, stdin: bytes = b"") -> Result:
    done = subprocess.run(command, input=stdin, capture_output=True, cwd=cwd, env=os.environ.copy(), timeout=60)
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def gas_report(eid: int = 0xA0, event_code: int = 0, seconds_per_rotation: int = 0) -> bytes:
    """A 256-byte uplink laid out by hand from the protocol table (not by the spec under test)."""
    slots = b"".join(struct.pack(">II", T0 - i * 3600, 1234 - i) for i in range(24))
    frame = struct.pack(">B8s", eid, b"D4245A98") + slots
    frame += struct.pack(">BIBH", 87, 123456, event_code, seconds_per_rotation) + b"\xff" * 47
    assert len(frame) == 256
    return frame


def documents(out: str) -> list[dict]:
    return [json.loads(line, parse_float=Decimal) for line in out.splitlines()]


REPLY_VALUES = {
    "rc": {"ts": True, "minmax": True, "io": False, "count": True, "server": False, "uid": False},
    "uid": "D4245A98",
    "ts_now": T0,
    "ts_next": T0 + 43200,
    "count": 1234,
    "min": 10,
    "max": 3600,
    "host": "192.0.2.10",
    "port": 5004,
}
# c9 = ts|minmax|count + even parity; then uid, ts_now, ts_next, count, min, max, host, port, io_flag 0xff
REPLY_HEX = "C9443432343541393867C8750067C91DC0000004D2000A0E10C000020A138CFF"


# --------------------------------------------------------------------------- the three entry points agree

SCENARIOS = {
    "validate-ok": (["validate-spec", str(SPECS_DIR)], b""),
    "validate-missing-json": (["validate-spec", "--format", "json", "missing.yaml"], b""),
    "decode-hex": (["decode", "--spec", "gas_meter", gas_report().hex()], b""),
    "decode-stdin": (["decode", "--spec", "fg150kal", "-"], SCALE_LINE),
    "decode-error": (["decode", "--spec", "gas_meter", "55" + gas_report().hex()[2:]], b""),
    "encode": (["encode", "--spec", "gas_meter", "--message", "reply", json.dumps(REPLY_VALUES)], b""),
    "specs": (["specs", "--format", "json"], b""),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_main_module_and_console_script_agree(scenario, capsys, monkeypatch, tmp_path):
    argv, stdin = SCENARIOS[scenario]
    monkeypatch.chdir(tmp_path)
    in_process = run_cli(argv, capsys, monkeypatch, stdin)
    as_module = run_process([sys.executable, "-m", "core", *argv], tmp_path, stdin)
    as_script = run_process([str(Path(sys.executable).with_name("specgate")), *argv], tmp_path, stdin)
    assert as_module == in_process
    assert as_script == in_process
    assert in_process.code == (1 if scenario in {"validate-missing-json", "decode-error"} else 0)


# --------------------------------------------------------------------------- validate-spec


def test_validate_bundled_specs_pass(capsys, monkeypatch):
    paths = bundled_spec_paths()
    assert len(paths) >= 2
    result = run_cli(["validate-spec", *map(str, paths)], capsys, monkeypatch)
    assert result == Result(0, "", f"{len(paths)} specs checked, 0 with problems\n")


def test_validate_directory_means_every_yaml_file_in_it(capsys, monkeypatch, tmp_path):
    for path in bundled_spec_paths():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "notes.txt").write_text("not a spec")
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "ignored.yaml").write_text("not: [a spec")
    result = run_cli(["validate-spec", str(tmp_path)], capsys, monkeypatch)
    assert result == Result(0, "", f"{len(bundled_spec_paths())} specs checked, 0 with problems\n")


COLOUR_PROBLEM = "unknown key 'colour'; allowed keys: description, endian, name, reserved, title"


def _broken_copy(tmp_path: Path) -> tuple[Path, int]:
    """The scale spec with an unknown key under ``meta``, and the line number of that key."""
    source = next(p for p in bundled_spec_paths() if p.stem == "fg150kal").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(source.replace("meta:\n", "meta:\n  colour: blue\n", 1))
    line = broken.read_text().splitlines().index("  colour: blue") + 1
    return broken, line


def test_validate_reports_problems_as_text(capsys, monkeypatch, tmp_path):
    broken, line = _broken_copy(tmp_path)
    result = run_cli(["validate-spec", str(broken), str(SPECS_DIR)], capsys, monkeypatch)
    checked = 1 + len(bundled_spec_paths())
    assert result == Result(
        1, f"{broken}:{line}:3: /meta/colour: {COLOUR_PROBLEM}\n", f"{checked} specs checked, 1 with problems\n"
    )


def test_validate_reports_problems_as_json(capsys, monkeypatch, tmp_path):
    broken, line = _broken_copy(tmp_path)
    result = run_cli(["validate-spec", "--format", "json", str(broken)], capsys, monkeypatch)
    assert result.code == 1
    assert json.loads(result.out) == [
        {"file": str(broken), "line": line, "col": 3, "pointer": "/meta/colour", "message": COLOUR_PROBLEM}
    ]
    assert result.err == "1 spec checked, 1 with problems\n"


def test_validate_missing_file_and_empty_directory_are_problems(capsys, monkeypatch, tmp_path):
    missing = tmp_path / "nope.yaml"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(["validate-spec", str(missing), str(empty)], capsys, monkeypatch)
    assert result.code == 1
    assert result.out.splitlines() == [
        f"{missing}:1:1: /: no such file: {missing}",
        f"{empty}:1:1: /: directory {str(empty)!r} holds no *.yaml spec file",
    ]
    assert result.err == "2 specs checked, 2 with problems\n"


def test_validate_checker_crash_is_a_problem_of_that_file_only(capsys, monkeypatch, tmp_path):
    import core.spec

    real = core.spec.validate_spec
    crashing = tmp_path / "crashing.yaml"
    crashing.write_text("meta: {name: x}\n")

    def validate(path):
        if Path(path) == crashing:
            raise RuntimeError("checker bug")
        return real(path)

    monkeypatch.setattr(core.spec, "validate_spec", validate)
    result = run_cli(["validate-spec", str(crashing), str(SPECS_DIR)], capsys, monkeypatch)
    assert result.code == 1
    assert result.out == f"{crashing}:1:1: /: internal error while checking the spec: RuntimeError: checker bug\n"
    assert result.err == f"{1 + len(bundled_spec_paths())} specs checked, 1 with problems\n"


def test_validate_missing_file_json(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = run_cli(["validate-spec", "--format", "json", "missing.yaml"], capsys, monkeypatch)
    assert result.code == 1
    assert json.loads(result.out) == [
        {"file": "missing.yaml", "line": 1, "col": 1, "pointer": "", "message": "no such file: missing.yaml"}
    ]
    assert result.err == "1 spec checked, 1 with problems\n"


# --------------------------------------------------------------------------- decode


def test_decode_hex_gas_meter_report(capsys, monkeypatch):
    result = run_cli(["decode", "--spec", "gas_meter", gas_report().hex()], capsys, monkeypatch)
    assert (result.code, result.err) == (0, "")
    [doc] = documents(result.out)
    assert doc["message"] == "report"
    values = doc["values"]
    assert values["eid"] == "normal"
    assert values["uid"] == "D4245A98"
    assert values["battery"] == 87 and values["uptime"] == 123456
    assert len(values["counts"]) == 24
    assert values["counts"][0] == {"ts": T0, "count": 1234}
    assert values["counts"][23] == {"ts": T0 - 23 * 3600, "count": 1234 - 23}


def test_decode_hex_accepts_spaces_and_colons(capsys, monkeypatch):
    frame = gas_report(eid=0xE0, event_code=2, seconds_per_rotation=90)
    spaced = " ".join(f"{b:02X}" for b in frame[:100]) + ":" + ":".join(f"{b:02x}" for b in frame[100:])
    result = run_cli(["decode", "--spec", "gas_meter", "--message", "report", spaced], capsys, monkeypatch)
    assert result.code == 0, result.err
    [doc] = documents(result.out)
    assert doc["values"]["eid"] == "event"
    assert doc["values"]["event_code"] == "rotation_speed"
    assert doc["values"]["seconds_per_rotation"] == 90


def test_decode_stdin_scale_line_keeps_decimal_exact(capsys, monkeypatch):
    result = run_cli(["decode", "--spec", "fg150kal", "-"], capsys, monkeypatch, SCALE_LINE)
    assert (result.code, result.err) == (0, "")
    [doc] = documents(result.out)
    assert doc["message"] == "weight"
    values = doc["values"]
    assert values["header"] == "ST" and values["unit"] == "kg" and values["sign"] == "+"
    assert values["value"] == Decimal("53.25") and values["decimals"] == 2
    assert values["stable"] is True and values["overload"] is False
    assert '"value": 53.25' in result.out or '"value":53.25' in result.out


def test_decode_stdin_cuts_stream_into_frames(capsys, monkeypatch):
    stream = b"\x00\x00ST,+00053.25 kg\r\nOL,+99999.99 kg\r\nST , +000053.26 _kg\n"
    result = run_cli(["decode", "--spec", "fg150kal", "-"], capsys, monkeypatch, stream)
    assert result.code == 0, result.err
    docs = documents(result.out)
    assert [d["values"]["header"] for d in docs] == ["ST", "OL", "ST"]
    assert [d["values"]["value"] for d in docs] == [Decimal("53.25"), None, Decimal("53.26")]
    assert docs[1]["values"]["overload"] is True


def test_decode_stdin_recognises_replies_and_info_lines(capsys, monkeypatch):
    stream = b"\x06\r\nEC,E11\r\nSN,01234567\r\nST,+00053.25 kg\r\n"
    result = run_cli(["decode", "--spec", "fg150kal", "-"], capsys, monkeypatch, stream)
    assert (result.code, result.err) == (0, "")
    docs = documents(result.out)
    assert [d["message"] for d in docs] == ["reply", "reply", "info", "weight"]
    assert docs[0]["values"]["reply"] == "ACK"
    assert docs[1]["values"] == {"reply": "EC", "code": "E11"}
    assert docs[2]["values"] == {"kind": "SN", "value": "01234567"}


def test_decode_stdin_skips_garbage_with_a_warning(capsys, monkeypatch):
    junk = b"\x00\x01junk"
    result = run_cli(["decode", "--spec", "gas_meter", "-"], capsys, monkeypatch, junk + gas_report())
    assert result.code == 0
    assert [d["values"]["uid"] for d in documents(result.out)] == ["D4245A98"]
    assert result.err == f"specgate: warning: skipped 6 byte(s) that are not a frame: {junk.hex().upper()}\n"


def test_decode_stdin_reports_bad_frame_and_goes_on(capsys, monkeypatch):
    stream = b"ST,+00053.25 kg\r\nhello there\r\nUS,-00001.50 kg\r\n"
    result = run_cli(["decode", "--spec", "fg150kal", "-"], capsys, monkeypatch, stream)
    assert result.code == 1
    assert [d["values"]["header"] for d in documents(result.out)] == ["ST", "US"]
    assert result.err.startswith("specgate: error: frame 2 does not decode with spec 'fg150kal': ")
    assert "\n  found: hello there\n" in result.err
    assert result.err.endswith(f"\n  frame: {b'hello there'.hex().upper()}\n")


def test_decode_stdin_incomplete_trailing_frame(capsys, monkeypatch):
    result = run_cli(["decode", "--spec", "gas_meter", "-"], capsys, monkeypatch, gas_report() + gas_report()[:10])
    assert result.code == 1
    assert len(documents(result.out)) == 1
    assert "the input ends with 10 byte(s) that do not make a complete 'gas_meter' frame" in result.err


def test_decode_stdin_last_line_needs_no_terminator(capsys, monkeypatch):
    result = run_cli(["decode", "--spec", "fg150kal", "-"], capsys, monkeypatch, b"ST,+00053.25 kg\r\nUS,-00001.50 kg")
    assert (result.code, result.err) == (0, "")
    assert [d["values"]["text"] for d in documents(result.out)] == ["ST,+00053.25 kg", "US,-00001.50 kg"]


def test_decode_stdin_empty_input(capsys, monkeypatch):
    result = run_cli(["decode", "--spec", "fg150kal", "-"], capsys, monkeypatch, b"")
    assert (result.code, result.out) == (1, "")
    assert "no 'fg150kal' frame found in the input" in result.err


def test_decode_error_names_path_expected_and_found(capsys, monkeypatch):
    frame = gas_report()[:100]
    result = run_cli(["decode", "--spec", "gas_meter", frame.hex()], capsys, monkeypatch)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "specgate: error: the frame does not decode with spec 'gas_meter': "
        "the frame is too short: needed 4 more bytes, found 3\n"
        "  path: report -> counts -> 11 -> ts\n"
        "  expected: 4\n"
        "  found: 3\n"
        f"  frame: {frame.hex().upper()}\n"
    )


def test_decode_unknown_event_id_exits_1(capsys, monkeypatch):
    frame = b"\x55" + gas_report()[1:]
    result = run_cli(["decode", "--spec", "gas_meter", frame.hex()], capsys, monkeypatch)
    assert (result.code, result.out) == (1, "")
    assert "\n  path: report -> eid\n" in result.err
    assert "\n  found: 0x55\n" in result.err


def test_decode_reply_with_wrong_parity(capsys, monkeypatch):
    frame = "C8" + REPLY_HEX[2:]  # C9 with the parity bit cleared: five 1-bits
    result = run_cli(["decode", "--spec", "gas_meter", "--message", "reply", frame], capsys, monkeypatch)
    assert (result.code, result.out) == (1, "")
    assert "\n  path: reply -> rc\n" in result.err
    assert "\n  found: 0xC8\n" in result.err


def test_decode_spec_given_as_file_path(capsys, monkeypatch):
    path = next(p for p in bundled_spec_paths() if p.stem == "fg150kal")
    result = run_cli(["decode", "--spec", str(path), SCALE_LINE.rstrip().hex()], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert documents(result.out)[0]["values"]["value"] == Decimal("53.25")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["decode", "--spec", "no_such_spec", "00"], "no_such_spec"),
        (["decode", "--spec", "missing/spec.yaml", "00"], "spec file 'missing/spec.yaml' does not exist"),
        (["decode", "--spec", "gas_meter", "a0 4g"], "unexpected character 'g'"),
        (["decode", "--spec", "gas_meter", "a04"], "odd number of digits (3)"),
        (["decode", "--spec", "gas_meter", "--message", "nope", "a0"], "has no message 'nope'"),
    ],
)
def test_decode_bad_arguments(argv, message, capsys, monkeypatch):
    result = run_cli(argv, capsys, monkeypatch)
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("specgate: error: ")
    assert message in result.err


# --------------------------------------------------------------------------- encode


def test_encode_gas_meter_reply(capsys, monkeypatch):
    result = run_cli(
        ["encode", "--spec", "gas_meter", "--message", "reply", json.dumps(REPLY_VALUES)], capsys, monkeypatch
    )
    assert result == Result(0, REPLY_HEX + "\n", "")


def test_encode_reads_json_from_stdin_and_round_trips(capsys, monkeypatch):
    values = dict(REPLY_VALUES, rc={"ts": True, "minmax": True}, ts_next=0xFFFFFFFF, io_flag=0x85)
    encoded = run_cli(
        ["encode", "--spec", "gas_meter", "--message", "reply", "-"], capsys, monkeypatch, json.dumps(values).encode()
    )
    assert encoded.code == 0, encoded.err
    assert encoded.out.startswith("C0") and encoded.out.strip().endswith("85")
    decoded = run_cli(["decode", "--spec", "gas_meter", "--message", "reply", encoded.out.strip()], capsys, monkeypatch)
    assert decoded.code == 0, decoded.err
    [doc] = documents(decoded.out)
    assert doc["values"]["ts_next"] == 0xFFFFFFFF
    assert doc["values"]["host"] == "192.0.2.10"
    assert doc["values"]["rc"]["count"] is False and doc["values"]["rc"]["ts"] is True


def test_encode_scale_line_from_decimal(capsys, monkeypatch):
    decoded = run_cli(["decode", "--spec", "fg150kal", "-"], capsys, monkeypatch, SCALE_LINE)
    [doc] = documents(decoded.out)
    values = json.dumps(doc["values"], default=str)
    encoded = run_cli(["encode", "--spec", "fg150kal", "--message", "weight", values], capsys, monkeypatch)
    assert encoded.code == 0, encoded.err
    assert bytes.fromhex(encoded.out.strip()) == SCALE_LINE.rstrip(b"\r\n")


def test_encode_bad_value_names_the_field(capsys, monkeypatch):
    values = dict(REPLY_VALUES, port=70000)
    result = run_cli(["encode", "--spec", "gas_meter", "--message", "reply", json.dumps(values)], capsys, monkeypatch)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "specgate: error: cannot build message 'reply' with spec 'gas_meter': 70000 does not fit u16 (0..65535)\n"
        "  path: reply -> port\n"
        "  expected: 0..65535\n"
        "  found: 70000\n"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("{not json", "the JSON argument is not valid JSON"),
        ("[1, 2]", "must be a JSON object of field values, got list"),
    ],
)
def test_encode_bad_json(values, message, capsys, monkeypatch):
    result = run_cli(["encode", "--spec", "gas_meter", "--message", "reply", values], capsys, monkeypatch)
    assert (result.code, result.out) == (1, "")
    assert message in result.err


def test_encode_requires_message(capsys, monkeypatch):
    result = run_cli(["encode", "--spec", "gas_meter", "{}"], capsys, monkeypatch)
    assert result.code == 1
    assert result.err == (
        "specgate encode: error: the following arguments are required: --message (see 'specgate encode --help')\n"
    )


# --------------------------------------------------------------------------- specs


def test_specs_json_lists_bundled_specs(capsys, monkeypatch):
    monkeypatch.chdir(SPECS_DIR.parent)
    result = run_cli(["specs", "--format", "json"], capsys, monkeypatch)
    assert result.code == 0, result.err
    by_name = {entry["name"]: entry for entry in json.loads(result.out)}
    assert {"gas_meter", "fg150kal"} <= set(by_name)
    gas = by_name["gas_meter"]
    assert gas["file"] == os.path.join("specs", "gas_meter.yaml")
    assert {m["name"]: m["direction"] for m in gas["messages"]} == {"report": "uplink", "reply": "downlink"}
    assert (gas["framing"]["kind"], gas["framing"]["length"]) == ("fixed", 256)
    assert (by_name["fg150kal"]["framing"]["kind"], by_name["fg150kal"]["framing"]["max_length"]) == ("lines", 64)
    scale_messages = {m["name"]: m["direction"] for m in by_name["fg150kal"]["messages"]}
    assert scale_messages == {"weight": "uplink", "reply": "uplink", "info": "uplink"}


def test_specs_text_matches_json(capsys, monkeypatch):
    entries = json.loads(run_cli(["specs", "--format", "json"], capsys, monkeypatch).out)
    text = run_cli(["specs"], capsys, monkeypatch)
    assert text.code == 0
    for entry in entries:
        framing = entry["framing"]
        parts = [{"kind": k, **o} for alt in framing.get("alternatives", []) for k, o in alt.items()] or [framing]
        shown = " | ".join(
            f"{part['kind']} " + " ".join(f"{key}={value}" for key, value in part.items() if key != "kind")
            for part in parts
        )
        if framing["kind"] == "alternatives":  # several framings, each shown like one of its own
            shown = f"alternatives: {shown}"
        assert f"{entry['name']}  {entry['file']}\n  framing: {shown}\n" in text.out
        for message in entry["messages"]:
            assert f"  {message['direction']:<8}  {message['name']}\n" in text.out


def test_specs_respects_plugin_selection(capsys, monkeypatch):
    monkeypatch.setenv("SPECGATE_DISABLE_PLUGINS", "fg150kal")
    result = run_cli(["specs", "--format", "json"], capsys, monkeypatch)
    names = {entry["name"] for entry in json.loads(result.out)}
    assert "gas_meter" in names and "fg150kal" not in names


TINY_SPEC = """\
meta:
  name: tiny_meter
framing:
  fixed:
    length: 3
messages:
  reading:
    direction: uplink
    fields:
      - {name: kind, type: u8, enum: {water: 1, heat: 2}}
      - {name: litres, type: u16, scale: "0.5"}
examples:
  - {name: water, hex: "01 0003", values: {kind: water, litres: "1.5"}}
"""
PLUGIN_MODULE = """\
from pathlib import Path

from core.hookspecs import hookimpl


@hookimpl
def specgate_register_specs():
    return [Path(__file__).with_name("tiny_meter.yaml")]
"""


_REAL_DISTRIBUTIONS = importlib.metadata.distributions


def with_installed(*fakes):
    """``importlib.metadata.distributions`` with ``fakes`` installed beside the real ones (specgate itself
    among them, which brings the built-in plugins)."""
    return lambda: [*_REAL_DISTRIBUTIONS(), *fakes]


class FakeDistribution:
    """What pluggy reads from an installed distribution that declares a ``specgate.plugins`` entry point."""

    def __init__(self, module: str) -> None:
        self.metadata = {"name": "specgate-tiny"}
        self.version = "0.1"
        self.entry_points = [importlib.metadata.EntryPoint(name="tiny", value=module, group=ENTRY_POINT_GROUP)]


def test_installed_plugin_specs_are_listed_and_usable(capsys, monkeypatch, tmp_path):
    (tmp_path / "tiny_meter.yaml").write_text(TINY_SPEC)
    (tmp_path / "specgate_tiny_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(importlib.metadata, "distributions", with_installed(FakeDistribution("specgate_tiny_plugin")))
    monkeypatch.delenv("SPECGATE_PLUGINS", raising=False)
    monkeypatch.delenv("SPECGATE_DISABLE_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)

    listed = {e["name"]: e for e in json.loads(run_cli(["specs", "--format", "json"], capsys, monkeypatch).out)}
    assert {"gas_meter", "fg150kal", "tiny_meter"} <= set(listed)
    assert listed["tiny_meter"]["file"] == "tiny_meter.yaml"
    assert listed["tiny_meter"]["messages"] == [{"name": "reading", "direction": "uplink"}]

    decoded = run_cli(["decode", "--spec", "tiny_meter", "02 0007"], capsys, monkeypatch)
    assert decoded.code == 0, decoded.err
    assert documents(decoded.out)[0]["values"] == {"kind": "heat", "litres": Decimal("3.5")}
    encoded = run_cli(
        ["encode", "--spec", "tiny_meter", "--message", "reading", '{"kind": "heat", "litres": 3.5}'],
        capsys,
        monkeypatch,
    )
    assert encoded == Result(0, "020007\n", "")


# --------------------------------------------------------------------------- documentation


def test_every_option_is_documented():
    from core.cli import build_parser

    doc = (Path(__file__).parents[2] / "docs" / "cli-spec.md").read_text(encoding="utf-8")
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("validate-spec", "decode", "encode", "specs"):
        assert f"## `specgate {command}" in doc
        for action in subparsers.choices[command]._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in doc, f"{command} {option} is not in docs/cli-spec.md"
            for choice in action.choices or ():
                assert f"`{action.option_strings[0]} {choice}`" in doc, f"{command} {choice} is not documented"


ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "cli-spec.md"


def doc_sessions() -> list[list[tuple[str, str]]]:
    """Each shell session shown in docs/cli-spec.md as (command, output shown after it) pairs."""
    sessions = []
    for block in re.findall(r"```\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if not block.startswith("$ "):
            continue
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        sessions.append([(command, "".join(f"{line}\n" for line in output)) for command, output in steps])
    return sessions


@pytest.mark.parametrize("session", doc_sessions(), ids=lambda session: session[0][0][:60])
def test_documented_output_is_real(session):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    status = None
    for command, shown in session:
        if command == "echo $?":
            assert f"{status}\n" == shown, f"exit status of the command before: {status}"
            continue
        # one pipe for both streams: the CLI flushes stdout before each stderr report, so the order is the doc's
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
        )
        status = done.returncode
        assert done.stdout == shown, command
