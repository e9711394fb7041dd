"""``specgate replay``: re-decode stored traffic with a changed spec before deploying it.

Every stored exchange (``misc_data``) and dead letter of a device type is split into frames by the spec's
framing and decoded twice: with the spec the plugins serve today and with the candidate (``--spec FILE``,
by default the same one). What changed is printed: a frame that now decodes (a dead letter the new spec
understands), one that no longer does, and values that differ, field by field. ``--example ID`` prints a
dead letter as a spec example to paste under ``examples:`` once the candidate decodes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import pluggy
import yaml

from core.cli.common import add_store_flags, fail, run_with_store
from core.cli.spec_commands import _resolve_spec as resolve_spec
from core.config import load_config
from core.errors import ConfigError, FrameError
from core.spec import Spec
from core.store import ListQuery, Store
from core.timeutil import local_string

_PAGE = 500


@dataclass
class Outcome:
    """The decodes of one stored entry's frames: values per frame, or the error text."""

    frames: list[dict[str, Any] | str] = field(default_factory=list)

    @property
    def decodes(self) -> bool:
        return bool(self.frames) and all(isinstance(frame, dict) for frame in self.frames)


def decode_all(spec: Spec, data: bytes) -> Outcome:
    """Split ``data`` into frames with the spec's framer and decode each; bytes no frame takes are an error."""
    framer = spec.new_framer()
    buffer = bytearray(data)
    outcome = Outcome()
    while buffer:
        consumed, frame = framer.decode(buffer)
        if consumed == 0:
            if not outcome.frames:  # an incomplete frame: the whole entry is one, as stored
                outcome.frames.append(_decode_one(spec, bytes(buffer)))
            break
        if frame is not None:
            outcome.frames.append(_decode_one(spec, bytes(frame)))
        del buffer[:consumed]
    if not outcome.frames:
        outcome.frames.append("no frame in these bytes")
    return outcome


def _decode_one(spec: Spec, frame: bytes) -> dict[str, Any] | str:
    try:
        decoded = spec.decode(frame)
    except FrameError as exc:
        return f"{type(exc).__name__}: {exc}"
    return {"message": decoded.message, **decoded.values}


def differences(old: Any, new: Any, path: str = "") -> dict[str, tuple[Any, Any]]:
    """``{field path: (old, new)}`` for every leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: dict[str, tuple[Any, Any]] = {}
        for key in sorted(set(old) | set(new), key=str):
            found.update(differences(old.get(key), new.get(key), f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = {}
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found.update(differences(a, b, f"{path}[{index}]"))
        return found
    return {} if old == new else {path or "(value)": (old, new)}


def compare(current: Outcome, candidate: Outcome) -> dict[str, Any] | None:
    """What changed between two decodes of the same bytes; None when nothing did."""
    if current.decodes and not candidate.decodes:
        errors = [frame for frame in candidate.frames if isinstance(frame, str)]
        return {"change": "now fails", "error": errors[0]}
    if candidate.decodes and not current.decodes:
        return {"change": "now decodes", "values": candidate.frames}
    if not candidate.decodes:
        return None
    changed = differences(current.frames, candidate.frames)
    if not changed:
        return None
    return {"change": "values differ", "differences": {key: list(pair) for key, pair in changed.items()}}


async def _entries(store: Store, source: str, device_type: str, ranges: dict[str, Any]) -> list[dict[str, Any]]:
    listing = store.list_exchanges if source == "exchange" else store.list_dead_letters
    offset = 0
    entries: list[dict[str, Any]] = []
    while True:
        page = await listing(ListQuery(filters={"device_type": device_type}, ranges=ranges, limit=_PAGE, offset=offset))
        entries.extend(page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return entries


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, store_url=args.store)
    current = resolve_spec(args.device_type)
    candidate = resolve_spec(args.spec) if args.spec else current
    tz = config.tz
    ranges: dict[str, Any] = {}
    if args.since is not None or args.until is not None:
        ranges["at"] = (args.since, args.until)
    sources = {"exchanges": ("exchange",), "dead-letters": ("dead letter",), "both": ("exchange", "dead letter")}

    async def action(store: Store) -> int:
        if args.example:
            return await _print_example(store, candidate, args.example)
        totals = {"checked": 0, "unchanged": 0, "now decodes": 0, "now fails": 0, "values differ": 0}
        for source in sources[args.source]:
            for entry in await _entries(store, source, args.device_type, ranges):
                data = entry.get("recv") if source == "exchange" else entry.get("data")
                if not isinstance(data, (bytes, bytearray)) or not data:
                    continue
                totals["checked"] += 1
                before = decode_all(current, bytes(data)) if candidate is not current else None
                after = decode_all(candidate, bytes(data))
                change = compare(before, after) if before is not None else _failure(source, after)
                if change is None:
                    totals["unchanged"] += 1
                    continue
                totals[change["change"]] += 1
                report = {"source": source, "id": entry.get("id"), "at": _when(entry, tz), "hex": bytes(data).hex()}
                report.update(ip=entry.get("ip"), device_uid=entry.get("device_uid"), **change)
                print(json.dumps(report, default=str, ensure_ascii=False) if args.json else _line(report))
        summary = ", ".join(f"{count} {name}" for name, count in totals.items())
        print(f"{args.device_type}: {summary} (current spec {current.name}, candidate {candidate.name})", file=sys.stderr)
        return 0

    return run_with_store(args, action)


def _failure(source: str, outcome: Outcome) -> dict[str, Any] | None:
    """Without a candidate: what the current spec makes of it (a dead letter that decodes now is news)."""
    if outcome.decodes:
        return {"change": "now decodes", "values": outcome.frames} if source == "dead letter" else None
    errors = [frame for frame in outcome.frames if isinstance(frame, str)]
    return None if source == "dead letter" else {"change": "now fails", "error": errors[0]}


def _when(entry: dict[str, Any], tz: Any) -> str | None:
    at = entry.get("at")
    return local_string(float(at), tz) if isinstance(at, (int, float)) else None


def _line(report: dict[str, Any]) -> str:
    head = f"{report['source']} {report['id'] or ''} {report['at'] or ''} {report['ip'] or ''}: {report['change']}"
    if report["change"] == "values differ":
        details = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in report["differences"].items())
        return f"{head}: {details}"
    if report["change"] == "now fails":
        return f"{head}: {report['error']}"
    return f"{head}: {report['hex'][:64]}"


async def _print_example(store: Store, spec: Spec, letter_id: str) -> int:
    entry = await store.get_dead_letter(letter_id)
    if entry is None:
        return fail(f"no dead letter {letter_id} (specgate dead-letters list shows their ids)")
    data = bytes(entry.get("data") or b"")
    try:
        decoded = spec.decode(data)
    except FrameError as exc:
        raise ConfigError(f"dead letter {letter_id} does not decode with spec {spec.name!r} either: {exc}") from None
    example = {
        "name": f"dead letter {letter_id}",
        "message": decoded.message,
        "hex": " ".join(f"{byte:02X}" for byte in data),
        "values": json.loads(json.dumps(decoded.values, default=str)),
    }
    print(yaml.safe_dump([example], sort_keys=False, allow_unicode=True, width=100), end="")
    return 0


def _epoch(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not epoch seconds") from None


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-decode stored exchanges and dead letters with a changed spec and print what changed",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("device_type", help="whose traffic to replay (specgate specs lists them)")
    parser.add_argument("--spec", help="the candidate spec: a YAML file or a spec name (default: the current one)")
    parser.add_argument(
        "--source", choices=("exchanges", "dead-letters", "both"), default="both", help="what to replay (default both)"
    )
    parser.add_argument("--since", type=_epoch, help="only entries from this time (epoch seconds)")
    parser.add_argument("--until", type=_epoch, help="only entries before this time (epoch seconds)")
    parser.add_argument("--example", metavar="ID", help="print dead letter ID as a spec example (candidate decode)")
    parser.add_argument("--json", action="store_true", help="one JSON object per changed entry")
    add_store_flags(parser)
    parser.set_defaults(func=run)
