"""Frames per second for the gas_meter uplink: our decoder, construct compiled/plain, and a hand-written parser.

Run: python bench/parse.py   (prints figures; asserts nothing about time)
"""

from __future__ import annotations

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


def main() -> None:
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


if __name__ == "__main__":
    main()
