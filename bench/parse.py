"""Frames per second for the gas_meter uplink: our decoder, construct compiled/plain, and a hand-written parser;
then the 32-byte reply built by the generated fast builder, construct plain/compiled and a hand-written pack.

Run: python bench/parse.py [--rounds N] [--seconds S]   (prints figures; asserts nothing about time)
"""

from __future__ import annotations

import argparse
import re
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.spec import load_spec
from core.spec.examples import example_frame

SPEC = Path(__file__).resolve().parent.parent / "specs" / "gas_meter.yaml"

_LAYOUT = struct.Struct(">B8s" + "II" * 24 + "BIBH47s")
_EIDS = {0xA0: "normal", 0xB0: "timestamp", 0xE0: "event", 0xE1: "init"}
_EVENT_CODES = {1: "magnetic", 2: "rotation_speed"}
_RESERVED = b"\xff" * 47


def hand_written(frame: bytes) -> tuple[dict[str, Any], list[str]]:
    """The same decoded dict built by hand from one struct.unpack_from (with the same checks)."""
    t = _LAYOUT.unpack_from(frame, 0)
    eid = _EIDS.get(t[0])
    uid = t[1].decode("ascii")
    if eid is None or t[54] != _RESERVED or len(uid) != 8 or not all(c in "0123456789ABCDEF" for c in uid):
        raise ValueError("bad frame")
    flags: list[str] = []
    code: Any = t[52]
    if eid == "event":
        code = _EVENT_CODES.get(code) or code
        if isinstance(code, int):
            flags.append(f"report -> event_code: unknown value {code} for enum event_code")
    values = {
        "eid": eid,
        "uid": uid,
        "counts": [{"ts": t[i], "count": t[i + 1]} for i in range(2, 50, 2)],
        "battery": t[50],
        "uptime": t[51],
        "event_code": code,
        "seconds_per_rotation": t[53],
    }
    return values, flags


def rate(func: Callable[[bytes], Any], frame: bytes, seconds: float = 1.0) -> float:
    count = 0
    batch = 200
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            func(frame)
        count += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


_REPLY = struct.Struct(">B8sIIIHH4sHB")
_RC_BITS = {"ts": 0x80, "minmax": 0x40, "io": 0x10, "count": 0x08, "server": 0x04, "uid": 0x02}
_UID = re.compile("[0-9A-F]{8}")


def hand_written_reply(values: dict[str, Any]) -> bytes:
    """The same 32 bytes packed by hand with one struct.pack (struct checks the ranges; uid and rc checked)."""
    rc = 0
    for name, flag in values["rc"].items():
        if flag is not True and flag is not False:
            raise ValueError(f"rc -> {name}: expected true or false")
        if flag:
            rc |= _RC_BITS[name]
    if bin(rc).count("1") % 2:
        rc |= 0x01  # even parity
    uid = values["uid"]
    if not _UID.fullmatch(uid):
        raise ValueError("bad uid")
    host = bytes(map(int, values["host"].split(".")))
    if len(host) != 4:
        raise ValueError("bad host")
    return _REPLY.pack(
        rc,
        uid.encode("ascii"),
        values["ts_now"],
        values["ts_next"],
        values["count"],
        values["min"],
        values["max"],
        host,
        values["port"],
        values.get("io_flag", 0xFF),
    )


def rounds_of(sides: dict[str, Callable[[], Any]], rounds: int, seconds: float) -> dict[str, list[float]]:
    """Calls per second of every side, interleaved: each round runs every side once, the first side rotating."""
    names = list(sides)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            func = sides[name]
            count = 0
            start = time.perf_counter()
            while True:
                for _ in range(200):
                    func()
                count += 200
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
            figures[name].append(count / elapsed)
    return figures


def build_section(spec: Any, rounds: int, seconds: float) -> None:
    example = next(e for e in spec.model.examples if e.get("message") == "reply")
    values = example["values"]
    frame = example_frame(example)
    structs = spec.structs["reply"]
    assert structs.fast_build is not None and structs.compiled is not None
    assert spec.encode("reply", values) == frame == hand_written_reply(values)
    assert spec.build_with("reply", values, "plain") == spec.build_with("reply", values, "compiled") == frame
    ours, hand = "spec.encode (generated fast builder)", "hand-written struct.pack"
    sides: dict[str, Callable[[], Any]] = {
        ours: lambda: spec.encode("reply", values),
        "construct compiled struct": lambda: spec.build_with("reply", values, "compiled"),
        "construct plain struct": lambda: spec.build_with("reply", values, "plain"),
        hand: lambda: hand_written_reply(values),
    }
    figures = rounds_of(sides, rounds, seconds)
    print()
    print(f"build: the 32-byte gas-meter reply, {rounds} interleaved rounds of {seconds:g} s per side")
    short = ["ours (fast builder)", "construct compiled", "construct plain", "hand-written"]
    print(f"  {'round':>6} " + " ".join(f"{name:>20}" for name in short) + f" {'ours/hand':>10}")
    ratios = [a / b for a, b in zip(figures[ours], figures[hand], strict=True)]
    for i in range(rounds):
        cells = " ".join(f"{figures[name][i]:>20,.0f}" for name in sides)
        print(f"  {i + 1:>6} {cells} {ratios[i]:>10.2f}")
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"  {'median':>6} " + " ".join(f"{medians[name]:>20,.0f}" for name in sides), end="")
    print(f" {statistics.median(ratios):>10.2f}")
    print("  builds/s per side; ratio = median of the per-round ratios ours / hand-written")
    for name in sides:
        print(f"{name:40s} {medians[name]:12,.0f} builds/s")
    print(f"{'ratio ours / hand-written':40s} {statistics.median(ratios):12.2f}")
    plain = medians["construct plain struct"]
    print(f"{'speed-up over construct plain':40s} {medians[ours] / plain:12.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the build section")
    parser.add_argument("--seconds", type=float, default=0.5, help="seconds per side and round (build section)")
    args = parser.parse_args()
    spec = load_spec(SPEC)
    frame = next(example_frame(e) for e in spec.model.examples if e["name"].startswith("A0"))
    structs = spec.structs["report"]
    assert spec.decode(frame).values == hand_written(frame)[0]
    assert structs.compiled is not None
    figures = {
        "spec.decode (generated fast path)": rate(spec.decode, frame),
        "construct compiled struct": rate(structs.compiled.parse, frame),
        "construct plain struct": rate(structs.plain.parse, frame),
        "hand-written struct.unpack_from": rate(hand_written, frame),
    }
    for label, value in figures.items():
        print(f"{label:40s} {value:12,.0f} frames/s")
    ratio = figures["spec.decode (generated fast path)"] / figures["hand-written struct.unpack_from"]
    print(f"{'ratio ours / hand-written':40s} {ratio:12.2f}  (target >= 0.5)")
    build_section(spec, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
