"""Spec commands: ``validate-spec``, ``decode``, ``encode`` and ``specs``.

Problems found in spec files and frames that do not parse are reported, never raised as tracebacks: the
exit status is 0 when everything passed and 1 otherwise. ``core.spec`` (construct, jsonschema) is imported
only when one of these commands runs, so ``specgate --help`` and the other commands start quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pluggy

from core.errors import ConfigError, FrameError

if TYPE_CHECKING:
    from core.spec import Problem, Spec

SPEC_SUFFIXES = (".yaml", ".yml")
_HEX_SEPARATORS = re.compile(r"[\s:]+")


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    validate = subparsers.add_parser(
        "validate-spec",
        help="check spec files: schema, semantics, compilation and examples",
        description="Check each spec file (schema, semantic checks, compilation, examples). A directory "
        "means every *.yaml file in it. Exit status 0 when all pass, 1 otherwise.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="a spec file or a directory of spec files")
    validate.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one 'file:line:col: /pointer: message' line per problem; json: a JSON list of problems",
    )
    validate.set_defaults(func=run_validate_spec)

    decode = subparsers.add_parser(
        "decode",
        help="decode a frame (hex) or a byte stream (stdin) and print it as JSON",
        description="Decode one frame given as hex digits, or the raw bytes on standard input ('-'), which "
        "are cut into frames by the spec's framer. Prints one JSON document per decoded frame.",
    )
    _add_spec_option(decode)
    decode.add_argument("--message", metavar="M", help="decode as this message (default: the spec decides)")
    decode.add_argument(
        "--key",
        metavar="HEX",
        action="append",
        default=[],
        help="an AES-128 key (32 hex digits) for the spec's transforms, tried for every meter; repeatable;"
        " ID=HEX gives the key of one meter only",
    )
    decode.add_argument(
        "data",
        metavar="HEX|-",
        help="the frame as hex digits (spaces and colons allowed), or '-' to read raw bytes from standard input",
    )
    decode.set_defaults(func=run_decode)

    encode = subparsers.add_parser(
        "encode",
        help="build a message from JSON values and print the frame as hex",
        description="Build MESSAGE from the JSON object of values and print the frame as hex digits.",
    )
    _add_spec_option(encode)
    encode.add_argument("--message", metavar="M", required=True, help="the message to build")
    encode.add_argument(
        "values", metavar="JSON|-", help="the values as a JSON object, or '-' to read it from standard input"
    )
    encode.set_defaults(func=run_encode)

    listing = subparsers.add_parser(
        "specs",
        help="list the specs of all loaded plugins",
        description="List every spec registered by the loaded plugins: name, file, framing and messages.",
    )
    listing.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    listing.set_defaults(func=run_specs)


def _add_spec_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        metavar="NAME",
        required=True,
        help="a spec name from the loaded plugins (see 'specgate specs') or the path of a YAML spec file",
    )


# --------------------------------------------------------------------------- validate-spec


def run_validate_spec(args: argparse.Namespace) -> int:
    from core.spec import validate_spec

    checked = 0
    failed = 0
    problems: list[dict[str, Any]] = []
    for path, input_problem in _spec_files(args.paths):
        checked += 1
        found = [input_problem] if input_problem else _validate_one(validate_spec, path)
        if found:
            failed += 1
            problems.extend(found)
    if args.format == "json":
        print(json.dumps(problems, indent=2))
    else:
        for problem in problems:
            print(_problem_line(problem))
    noun = "spec" if checked == 1 else "specs"
    sys.stdout.flush()  # the summary comes after the problems when both streams go to one terminal or file
    print(f"{checked} {noun} checked, {failed} with problems", file=sys.stderr)
    return 1 if failed else 0


def _spec_files(arguments: list[str]) -> Iterator[tuple[Path, dict[str, Any] | None]]:
    """Each spec file named on the command line; a directory stands for every ``*.yaml`` file in it."""
    for argument in arguments:
        path = Path(argument)
        if not path.is_dir():
            yield path, None  # validate_spec reports a missing or unreadable file as a problem
            continue
        found = sorted(p for p in path.iterdir() if p.suffix == ".yaml" and p.is_file())
        if not found:
            yield path, _input_problem(path, f"directory {argument!r} holds no *.yaml spec file")
        for spec_file in found:
            yield spec_file, None


def _validate_one(validate_spec: Callable[[Path], list[Problem]], path: Path) -> list[dict[str, Any]]:
    try:
        return [p.as_dict() for p in validate_spec(path)]
    except Exception as exc:  # a checker bug on one file must not hide the results for the others
        return [_input_problem(path, f"internal error while checking the spec: {type(exc).__name__}: {exc}")]


def _input_problem(path: Path, message: str) -> dict[str, Any]:
    return {"file": str(path), "line": 1, "col": 1, "pointer": "", "message": message}


def _problem_line(problem: dict[str, Any]) -> str:
    return f"{problem['file']}:{problem['line']}:{problem['col']}: {problem['pointer'] or '/'}: {problem['message']}"


# --------------------------------------------------------------------------- decode / encode


def _resolve_spec(name: str) -> Spec:
    """A spec from the loaded plugins by name, or loaded from a YAML file when NAME looks like a path."""
    from core.plugins import spec_registry
    from core.spec import load_spec

    path = Path(name)
    if path.suffix in SPEC_SUFFIXES or os.sep in name or "/" in name:
        if not path.is_file():
            raise ConfigError(f"spec file {name!r} does not exist")
        return load_spec(path)
    return spec_registry().get(name)


def _check_message(spec: Spec, message: str | None) -> None:
    if message is not None and message not in spec.messages:
        known = ", ".join(sorted(spec.messages))
        raise ConfigError(f"spec {spec.name!r} has no message {message!r}; its messages are: {known}")


def parse_hex(text: str) -> bytes:
    """Hex digits with optional spaces or colons between them, e.g. ``a0 44:32``."""
    digits = _HEX_SEPARATORS.sub("", text)
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    bad = re.search(r"[^0-9a-fA-F]", digits)
    if bad:
        raise ConfigError(f"frame {text!r} is not hex: unexpected character {bad.group()!r}")
    if len(digits) % 2:
        raise ConfigError(f"frame {text!r} is not hex: odd number of digits ({len(digits)})")
    if not digits:
        raise ConfigError("frame is empty: give hex digits, or '-' to read bytes from standard input")
    return bytes.fromhex(digits)


def frame_error_report(headline: str, exc: FrameError, frame: bytes | None = None) -> str:
    """The headline with the error's own words, then the field path, expected, found (and frame) lines."""
    reason = str(exc)
    if exc.path and reason.startswith(f"{exc.path}: "):
        reason = reason[len(exc.path) + 2 :]  # the path gets its own line
    lines = [f"specgate: error: {headline}: {reason}"]
    lines.append(f"  path: {exc.path or '(message)'}")
    lines.append(f"  expected: {_show(exc.expected)}")
    lines.append(f"  found: {_show(exc.found)}")
    if frame is not None:
        lines.append(f"  frame: {frame.hex().upper()}")
    return "\n".join(lines)


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper() if value else "no bytes"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, str):
        return value if value.isprintable() else repr(value)
    return str(value)


def run_decode(args: argparse.Namespace) -> int:
    from core.spec import dumps

    spec = _resolve_spec(args.spec)
    _check_message(spec, args.message)
    keys = _keys(getattr(args, "key", []))
    if args.data != "-":
        frame = parse_hex(args.data)
        try:
            msg = spec.decode(frame, message=args.message, keys=keys)
        except FrameError as exc:
            print(frame_error_report(f"the frame does not decode with spec {spec.name!r}", exc, frame), file=sys.stderr)
            return 1
        print(dumps(msg))
        return 0
    try:
        return _decode_stream(spec, sys.stdin.buffer, args.message, keys)
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, and keep Python's exit-time flush from failing too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


STDIN_CHUNK = 4096  # small reads keep the framer's buffer short, and a pipe is decoded as it streams


def _keys(texts: list[str]) -> Any:
    """The ``--key`` options as a key ring: ``HEX`` for any meter, ``ID=HEX`` for one meter."""
    if not texts:
        return None
    from core.spec.transforms import KeyRing

    ring = KeyRing()
    for text in texts:
        key_id, _, digits = text.rpartition("=")
        try:
            key = bytes.fromhex(digits.replace(" ", ""))
        except ValueError:
            raise ConfigError(f"--key {text!r} is not hex") from None
        if len(key) != 16:
            raise ConfigError(f"--key {text!r}: an AES-128 key has 32 hex digits, got {len(key) * 2}")
        if key_id:
            ring.by_id.setdefault(key_id.upper(), []).append(key)
        else:
            ring.default.append(key)
    return ring


def _decode_stream(spec: Spec, stream: BinaryIO, message: str | None, keys: Any = None) -> int:
    """Cut the stream into frames with the spec's framer, as a device connection would, and decode each."""
    decoder = _StreamDecoder(spec, message, keys)
    read = getattr(stream, "read1", stream.read)
    while chunk := read(STDIN_CHUNK):
        decoder.feed(chunk)
    terminator = _line_terminator(spec)
    if decoder.buffer and terminator is not None:
        decoder.feed(terminator)  # a last line without its terminator is still a line
    _warn_junk(decoder.junk)
    if decoder.buffer:
        print(
            f"specgate: error: the input ends with {len(decoder.buffer)} byte(s) that do not make a complete "
            f"{spec.name!r} frame: {bytes(decoder.buffer).hex().upper()}",
            file=sys.stderr,
        )
        return 1
    if decoder.frames == 0:
        print(f"specgate: error: no {spec.name!r} frame found in the input", file=sys.stderr)
        return 1
    return 1 if decoder.failed else 0


def _line_terminator(spec: Spec) -> bytes | None:
    if spec.framing.kind != "lines":
        return None
    return bytes.fromhex(str(spec.framing.options.get("terminator", "0a")).replace(" ", ""))


class _StreamDecoder:
    """Feeds bytes to a fresh framer and prints each frame decoded (JSON on stdout, errors on stderr)."""

    def __init__(self, spec: Spec, message: str | None, keys: Any = None) -> None:
        self.spec = spec
        self.message = message
        self.keys = keys
        self.framer = spec.new_framer()
        self.buffer = bytearray()
        self.junk = bytearray()
        self.frames = 0
        self.failed = 0

    def feed(self, data: bytes) -> None:
        from core.spec import dumps

        self.buffer += data
        while self.buffer:
            consumed, frame = self.framer.decode(self.buffer)
            if consumed == 0:
                return
            if frame is None:
                self.junk += self.buffer[:consumed]
            else:
                _warn_junk(self.junk)
                self.frames += 1
                try:
                    msg = self.spec.decode(frame, message=self.message, keys=self.keys)
                except FrameError as exc:
                    self.failed += 1
                    headline = f"frame {self.frames} does not decode with spec {self.spec.name!r}"
                    print(frame_error_report(headline, exc, frame), file=sys.stderr)
                else:
                    print(dumps(msg), flush=True)
            del self.buffer[:consumed]


def _warn_junk(junk: bytearray) -> None:
    """Report garbage the framer skipped (consecutive skips as one warning) and forget it."""
    if junk:
        print(
            f"specgate: warning: skipped {len(junk)} byte(s) that are not a frame: {bytes(junk).hex().upper()}",
            file=sys.stderr,
        )
        junk.clear()


def _read_values(text: str) -> dict[str, Any]:
    source = "standard input" if text == "-" else "the JSON argument"
    raw = sys.stdin.read() if text == "-" else text
    try:
        values = json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must be a JSON object of field values, got {type(values).__name__}")
    return values


def run_encode(args: argparse.Namespace) -> int:
    spec = _resolve_spec(args.spec)
    _check_message(spec, args.message)
    values = _read_values(args.values)
    try:
        frame = spec.encode(args.message, values)
    except FrameError as exc:
        headline = f"cannot build message {args.message!r} with spec {spec.name!r}"
        print(frame_error_report(headline, exc), file=sys.stderr)
        return 1
    print(frame.hex().upper())
    return 0


# --------------------------------------------------------------------------- specs


def run_specs(args: argparse.Namespace) -> int:
    from core.plugins import spec_registry
    from core.spec import dumps

    registry = spec_registry()
    entries = [_spec_entry(registry.get(name)) for name in registry.names()]
    if args.format == "json":
        print(dumps(entries, indent=2))
        return 0
    for entry in entries:
        print(f"{entry['name']}  {entry['file']}")
        print(f"  framing: {_framing_text(entry['framing'])}")
        for message in entry["messages"]:
            print(f"  {message['direction']:<8}  {message['name']}")
    return 0


def _spec_entry(spec: Spec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "file": _display_path(spec.path) if spec.path is not None else None,
        "framing": {"kind": spec.framing.kind, **spec.framing.options},
        "messages": [{"name": name, "direction": info.direction} for name, info in spec.messages.items()],
    }


def _framing_text(framing: dict[str, Any]) -> str:
    if framing["kind"] == "alternatives":  # one framing per first byte: each shown like a framing of its own
        shown = [
            _framing_text({"kind": kind, **options}) for alt in framing["alternatives"] for kind, options in alt.items()
        ]
        return "alternatives: " + " | ".join(shown)
    options = " ".join(f"{key}={value}" for key, value in framing.items() if key != "kind")
    return f"{framing['kind']} {options}".rstrip()


def _display_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it (keeps output portable)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
