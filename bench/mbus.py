"""M-Bus decoding: frames per second of ``specgate decode`` (specs/mbus.yaml) against pyMeterBus (pure
Python) and pymbusparser (Rust bindings) on the 54 libmbus test frames, and the records each gets right
compared with libmbus's own normalised decodes.

Run: python bench/mbus.py [--rounds N] [--seconds S]   (prints figures; asserts nothing about time)

Each round times every decoder in turn on the same frames (interleaved, so a slow moment of the machine
hits all of them); the figure is the median over the rounds. A record is right when its function, storage
number, tariff, subunit and value (normalised to the base unit, to within libmbus's six decimals) are those
of libmbus's decode. Install the others with ``pip install -e '.[bench]'`` (a missing one is skipped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "mbus" / "vectors" / "libmbus"
FUNCTIONS = {
    "instantaneous": "instantaneous",
    "maximum": "maximum",
    "minimum": "minimum",
    "error": "error",
    "manufacturer": "manufacturer",
    "more": "more",
    "actual": "instantaneous",
}

Record = tuple[str, int, int, int, Any]  # function, storage, tariff, subunit, value


def function_word(text: Any) -> str:
    """One word for a function, whatever the decoder calls it ('Maximum value', 'FunctionType.MAXIMUM_VALUE')."""
    lowered = str(text or "").lower()
    for key, word in FUNCTIONS.items():
        if key in lowered:
            return word
    return lowered


def as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def same_value(expected: str, got: Any) -> bool:
    number, mine = as_number(expected), as_number(got)
    if number is not None and mine is not None and number.is_finite() and mine.is_finite():
        return abs(number - mine) <= Decimal("0.0000005") * max(Decimal(1), abs(mine))
    text = str(got if got is not None else "").replace(" ", "T").rstrip("Z")
    return expected.rstrip("Z").replace(" ", "T") == text or expected.replace(" ", "") == text.replace("T", "")


def libmbus_records(name: str) -> list[Record]:
    root = ET.parse(VECTORS / f"{name}.norm.xml").getroot()
    return [
        (
            function_word(r.findtext("Function")),
            int(r.findtext("StorageNumber") or 0),
            int(r.findtext("Tariff") or 0),
            int(r.findtext("Device") or 0),
            r.findtext("Value") or "",
        )
        for r in root.findall("DataRecord")
    ]


# ---------------------------------------------------------------------------------------------- decoders


def specgate_decoder() -> tuple[Callable[[bytes], Any], Callable[[Any], list[Record]]]:
    spec = load_spec(ROOT / "specs" / "mbus.yaml")

    def records(decoded: Any) -> list[Record]:
        out = []
        for r in decoded.values.get("records", []):
            value = r["value"]
            if r.get("manufacturer_data") is not None:
                value = " ".join(f"{b:02X}" for b in r["manufacturer_data"])
            out.append((function_word(r["function"]), r["storage"], r["tariff"], r["subunit"], value))
        return out

    return spec.decode, records


def pymeterbus_decoder() -> tuple[Callable[[bytes], Any], Callable[[Any], list[Record]]] | None:
    try:
        import meterbus
    except ImportError:
        return None

    def records(telegram: Any) -> list[Record]:
        out = []
        for record in telegram.records:
            item = record.interpreted
            out.append(
                (
                    function_word(item.get("function")),
                    int(item.get("storage_number") or 0),
                    int(item.get("tariff") or 0),
                    int(item.get("device") or 0),
                    item.get("value"),
                )
            )
        return out

    return meterbus.load, records


def pymbusparser_decoder() -> tuple[Callable[[bytes], Any], Callable[[Any], list[Record]]] | None:
    try:
        import pymbusparser
    except ImportError:
        return None

    def records(parsed: Any) -> list[Record]:
        out = []
        for record in parsed.get("records", []):
            value = record.get("value")
            if isinstance(value, dict):
                value = value.get("value")
            out.append(
                (
                    function_word(record.get("function")),
                    int(record.get("storage_number") or 0),
                    int(record.get("tariff") or 0),
                    int(record.get("subunit") or 0),
                    value,
                )
            )
        return out

    return pymbusparser.parse, records


def right_records(
    decode: Callable[[bytes], Any], records: Callable[[Any], list[Record]], frames: dict[str, bytes]
) -> tuple[int, int, int]:
    """(frames decoded, records right, records in libmbus's decodes)."""
    decoded_frames = right = total = 0
    for name, frame in frames.items():
        expected = libmbus_records(name)
        total += len(expected)
        try:
            got = records(decode(frame))
        except Exception:  # a decoder that cannot decode a frame gets none of its records
            continue
        decoded_frames += 1
        for want, have in zip(expected, got, strict=False):
            if want[:4] == have[:4] and same_value(want[4], have[4]):
                right += 1
    return decoded_frames, right, total


def frames_per_second(decode: Callable[[bytes], Any], frames: list[bytes], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while True:
        for frame in frames:
            try:
                decode(frame)
            except Exception:
                pass  # a frame a decoder rejects still costs its time
        count += len(frames)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per decoder and round")
    args = parser.parse_args()
    frames = {p.stem: bytes.fromhex(p.read_text()) for p in sorted(VECTORS.glob("*.hex"))}
    decoders: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], list[Record]]]] = {"specgate": specgate_decoder()}
    for label, make in (("pyMeterBus", pymeterbus_decoder), ("pymbusparser", pymbusparser_decoder)):
        made = make()
        if made is None:
            print(f"{label}: not installed, skipped (pip install -e '.[bench]')")
        else:
            decoders[label] = made
    rates: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(args.rounds):
        for name, (decode, records) in decoders.items():
            # timed up to the records' values (pyMeterBus interprets its records only when asked)
            rates[name].append(
                frames_per_second(lambda f, d=decode, r=records: r(d(f)), list(frames.values()), args.seconds)
            )
    print(f"{len(frames)} libmbus frames, {args.rounds} interleaved rounds of {args.seconds:g} s per decoder")
    print(f"{'decoder':<14} {'frames/s':>10} {'frames decoded':>15} {'records right':>15}")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, (decode, records) in decoders.items():
        decoded, right, total = right_records(decode, records, frames)
        print(f"{name:<14} {medians[name]:>10.0f} {decoded:>9}/{len(frames):<5} {right:>9}/{total:<5}")
    for name in decoders:
        if name != "specgate":
            print(f"specgate / {name}: {medians['specgate'] / medians[name]:.2f}x the frames per second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
