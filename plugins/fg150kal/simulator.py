"""A simulated A&D FG-150KAL scale behind a serial-to-Ethernet converter.

:func:`scale_stream` generates what such a converter sends (pure, importable by tests): weighings whose
unstable (``US``) readings settle to a stable (``ST``) weight, optional overloads (``OL``), command replies,
NUL bytes at power-up; :func:`chunk_stream` cuts the bytes across line boundaries the way TCP segments do.
:func:`run_scale` streams it to a gateway.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.api import close_quietly, split_chunks, write_chunks

STEP = Decimal("0.05")
OVERLOAD_LINE = "OL,+99999.99 kg"


def weight_line(header: str, value: Decimal, unit: str = "kg", decimals: int = 2) -> str:
    """An A&D standard-format line without its CR LF: ``ST,+00053.25 kg`` (17 bytes with CR LF)."""
    sign = "-" if value < 0 else "+"
    number = f"{abs(value):0{8}.{decimals}f}"
    return f"{header},{sign}{number}{unit:>3}"


@dataclass
class ScaleStream:
    """The generated lines, the bytes to send, and what a gateway must conclude from them."""

    lines: list[str]
    data: bytes
    #: the weight of the last stable (ST) line, None when there is none
    last_stable: Decimal | None
    last_stable_line: str | None
    counts: dict[str, int] = field(default_factory=dict)


def _to_step(value: Decimal) -> Decimal:
    return (value / STEP).quantize(Decimal(1), rounding=ROUND_HALF_UP) * STEP


def scale_stream(
    lines: int = 40,
    settle: int = 4,
    overload: float = 0.0,
    replies: float = 0.0,
    nul: bool = False,
    seed: int = 1,
    low: Decimal = Decimal("20"),
    high: Decimal = Decimal("80"),
) -> ScaleStream:
    """About ``lines`` lines of weighings: ``settle`` unstable lines approaching each target, then two
    stable lines. ``overload`` and ``replies`` are the chance, per weighing, of an ``OL`` line after it or
    a command reply (``Z``/``T``/``I``) before it; ``nul`` starts the stream with power-up NULs."""
    rng = random.Random(seed)
    out: list[str] = []
    counts = {"ST": 0, "US": 0, "OL": 0, "reply": 0}
    last: Decimal | None = None
    last_line: str | None = None
    while len(out) < lines:
        if replies and rng.random() < replies:
            out.append(rng.choice(["Z", "T", "I"]))
            counts["reply"] += 1
        target = _to_step(Decimal(rng.uniform(float(low), float(high))).quantize(Decimal("0.01")))
        for step in range(settle, 0, -1):
            wobble = Decimal(rng.uniform(-1.5, 1.5) * step / settle).quantize(Decimal("0.01"))
            out.append(weight_line("US", _to_step(target + wobble + STEP * step)))
            counts["US"] += 1
        for _ in range(2):
            last_line = weight_line("ST", target)
            out.append(last_line)
            counts["ST"] += 1
        last = target
        if overload and rng.random() < overload:
            out.append(OVERLOAD_LINE)
            counts["OL"] += 1
    data = ("\x00" * 4 if nul else "").encode("ascii") + "".join(f"{line}\r\n" for line in out).encode("ascii")
    return ScaleStream(lines=out, data=data, last_stable=last, last_stable_line=last_line, counts=counts)


def chunk_stream(data: bytes, split: bool, rng: random.Random | None = None, largest: int = 11) -> list[bytes]:
    """One chunk per line (``split`` False) or random pieces of 1 to ``largest`` bytes across lines."""
    if not split:
        return [line + b"\n" for line in data.split(b"\n") if line]
    return split_chunks(data, rng or random.Random(0), largest)


async def run_scale(
    host: str,
    port: int,
    stream: ScaleStream,
    split: bool = False,
    pause: float = 0.0,
    seed: int = 1,
    linger: float = 0.2,
    on_written: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Send ``stream`` over one TCP connection; returns a summary (bytes, chunks, expected latest).
    ``on_written`` (optional) is called with the length of each chunk once it is sent."""
    _reader, writer = await asyncio.open_connection(host, port)
    chunks = chunk_stream(stream.data, split, random.Random(seed))
    try:
        await write_chunks(writer, chunks, pause, on_written)
        if linger:
            await asyncio.sleep(linger)
    finally:
        await close_quietly(writer)
    return {
        "lines": len(stream.lines),
        "bytes": len(stream.data),
        "chunks": len(chunks),
        "counts": stream.counts,
        "last_stable": str(stream.last_stable) if stream.last_stable is not None else None,
        "last_stable_line": stream.last_stable_line,
    }
