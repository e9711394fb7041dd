"""Simulated NB-IoT gas meters: real 256-byte reports built with the spec, sent over TCP.

Packet generation is pure and importable by tests (:func:`build_report`, :class:`SimulatedMeter`);
:func:`run_load` drives many meters against a gateway and returns a :class:`LoadSummary`.

Each meter keeps hourly cumulative counter snapshots. Its ``k``-th report is dated ``k`` hours after the
start (``advance_hours=1``), so consecutive reports' 24-slot windows overlap by 23 slots, as a real
meter's do, and each report brings one new reading.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from core.api import ConfigError, Spec, bundled_spec_paths, close_quietly, load_spec, split_chunks, write_chunks
from plugins.gas_meter.options import DEVICE_TYPE

SLOTS = 24
HOUR = 3600
REPORT_LENGTH = 256
REPLY_LENGTH = 32
KINDS = ("normal", "event", "init")
FAULTS = ("split", "garbage", "truncate")
#: the EID bytes a framer accepts as the start of a report
EID_BYTES = frozenset({0xA0, 0xB0, 0xE0, 0xE1})
TS_STOP = 0xFFFFFFFF


@lru_cache(maxsize=1)
def gas_meter_spec() -> Spec:
    """The bundled ``gas_meter`` spec (compiled once)."""
    for path in bundled_spec_paths():
        if path.stem == DEVICE_TYPE:
            return load_spec(path)
    raise ConfigError("the gas_meter spec is not bundled (specs/gas_meter.yaml is missing)")


def empty_slots() -> list[dict[str, int]]:
    return [{"ts": 0, "count": 0} for _ in range(SLOTS)]


def build_report(
    eid: str,
    uid: str,
    counts: Iterable[Mapping[str, int]] = (),
    battery: int = 90,
    uptime: int = 0,
    event_code: Any = 0,
    seconds_per_rotation: int = 0,
) -> bytes:
    """One 256-byte report encoded with the spec. ``counts`` (newest first) is padded to 24 empty slots."""
    slots = [dict(slot) for slot in counts][:SLOTS]
    slots += empty_slots()[len(slots) :]
    return gas_meter_spec().encode(
        "report",
        {
            "eid": eid,
            "uid": uid,
            "counts": slots,
            "battery": battery,
            "uptime": uptime,
            "event_code": event_code,
            "seconds_per_rotation": seconds_per_rotation,
        },
    )


def decode_reply(data: bytes) -> dict[str, Any]:
    """The values of a 32-byte reply (``FrameError`` when it is not one)."""
    return gas_meter_spec().decode(data, message="reply").values


def meter_uid(prefix: str, index: int) -> str:
    """``prefix`` followed by the index in hex, 8 upper-case hex digits in all."""
    prefix = prefix.upper()
    width = 8 - len(prefix)
    if width < 1 or any(c not in "0123456789ABCDEF" for c in prefix):
        raise ConfigError(f"uid prefix {prefix!r} must be 0 to 7 hex digits")
    if index >= 16**width:
        raise ConfigError(f"uid prefix {prefix!r} leaves room for only {16**width} meters, not {index + 1}")
    return f"{prefix}{index:0{width}X}"


@dataclass
class SimulatedMeter:
    """One meter: hourly snapshots of a counter growing by about ``per_hour`` counts an hour."""

    uid: str
    start: int
    first_count: int = 1000
    per_hour: int = 25
    battery: int = 95
    reports_sent: int = 0
    #: the report still waiting for its reply: ``(kind, packet, readings)``, sent again by a resending meter
    unanswered: tuple[str, bytes, list[dict[str, int]]] | None = None

    def now(self, advance_hours: int = 1) -> int:
        """The meter's clock at its next report."""
        return self.start + self.reports_sent * advance_hours * HOUR

    def count_at(self, hour_ts: int) -> int:
        """The cumulative count at an hour boundary: monotonic, varying from hour to hour."""
        hours = max(0, (hour_ts - self.start) // HOUR + SLOTS)
        # a wobble smaller than the hourly growth keeps the counter monotonic
        wobble = (hours * 7919 + int(self.uid, 16)) % max(1, min(5, self.per_hour))
        return self.first_count + hours * self.per_hour + wobble * (hours > 0)

    def slots(self, now: int) -> list[dict[str, int]]:
        """The 24 newest hourly snapshots at ``now``, newest first."""
        newest = now - now % HOUR
        return [{"ts": newest - i * HOUR, "count": self.count_at(newest - i * HOUR)} for i in range(SLOTS)]

    def report(self, kind: str, rng: random.Random, advance_hours: int = 1) -> tuple[bytes, list[dict[str, int]]]:
        """The next report of ``kind`` and the readings it carries (none for ``init``)."""
        now = self.now(advance_hours)
        self.reports_sent += 1
        uptime = now - self.start + 3600
        if kind == "init":
            return build_report("init", self.uid, empty_slots(), self.battery, uptime), []
        slots = self.slots(now)
        if kind == "event":
            code = rng.choice(["magnetic", "rotation_speed"])
            packet = build_report("event", self.uid, slots, self.battery, uptime, code, rng.randint(1, 7200))
        elif kind == "normal":
            packet = build_report("normal", self.uid, slots, self.battery, uptime)
        else:
            raise ConfigError(f"unknown report kind {kind!r}; known: {', '.join(KINDS)}")
        return packet, slots


def parse_mix(text: str) -> dict[str, float]:
    """``normal=90,event=5,init=5`` -> weights (every kind must be one of ``normal``, ``event``, ``init``)."""
    mix: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, weight = part.partition("=")
        if not sep or name not in KINDS:
            raise ConfigError(f"--mix entry {part!r} is not KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise ConfigError(f"--mix weight {weight!r} of {name} is not a number") from None
        if mix[name] < 0:
            raise ConfigError(f"--mix weight of {name} must not be negative, got {weight}")
    if not mix or sum(mix.values()) <= 0:
        raise ConfigError(f"--mix {text!r} gives no kind a positive weight")
    return mix


def parse_faults(text: str) -> list[str]:
    """``split,garbage,truncate`` -> the fault names (empty text = none)."""
    faults = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise ConfigError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    return faults


def garbage(rng: random.Random, length: int = REPORT_LENGTH) -> bytes:
    """Bytes no framer takes for a report: the first byte is never an EID."""
    first = rng.choice([b for b in range(256) if b not in EID_BYTES])
    return bytes([first]) + rng.randbytes(length - 1)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Acknowledged:
    """A report the gateway answered: the meter may forget these readings."""

    uid: str
    kind: str
    readings: list[dict[str, int]]
    reply: dict[str, Any]
    #: the 256 bytes the meter sent (the same bytes on every resend)
    packet: bytes = b""
    #: True when this answer came to a resend of the report
    resent: bool = False


@dataclass
class LoadSummary:
    sent: int = 0
    replied: int = 0
    no_reply: int = 0
    errors: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    #: fault packets (garbage, truncate) the gateway closed without a reply, as it must
    faults_closed_without_reply: int = 0
    #: fault packets that were answered anyway
    faults_replied: int = 0
    return_codes: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    error_messages: dict[str, int] = field(default_factory=dict)
    acknowledged: list[Acknowledged] = field(default_factory=list)
    #: new reports by kind (resends not counted)
    reports: dict[str, int] = field(default_factory=dict)
    #: reports sent again because their reply never arrived (or was lost)
    resent: int = 0
    #: replies the gateway sent that the meter dropped (``lose_reply_rate``)
    lost_replies: int = 0
    #: replies telling the meter to stop reporting (TS next 0xFFFFFFFF): the meter is not registered or
    #: not active in the store the gateway uses
    told_to_stop: int = 0

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "sent": self.sent,
            "replied": self.replied,
            "told_to_stop": self.told_to_stop,
            "no_reply": self.no_reply,
            "errors": self.errors,
            "faults": dict(self.faults),
            "faults_closed_without_reply": self.faults_closed_without_reply,
            "faults_replied": self.faults_replied,
            "return_codes": dict(sorted(self.return_codes.items())),
            "latency_ms": {
                "p50": round(percentile(ordered, 0.50), 3),
                "p90": round(percentile(ordered, 0.90), 3),
                "p99": round(percentile(ordered, 0.99), 3),
                "max": round(ordered[-1], 3) if ordered else 0.0,
            },
            "elapsed_s": round(self.elapsed_s, 3),
            "replies_per_s": round(self.replied / self.elapsed_s, 1) if self.elapsed_s > 0 else 0.0,
            "error_messages": dict(self.error_messages),
            **({"resent": self.resent, "lost_replies": self.lost_replies} if self.resent or self.lost_replies else {}),
        }


async def exchange(
    host: str,
    port: int,
    chunks: list[bytes],
    timeout: float = 10.0,
    close_write: bool = False,
    chunk_pause: float = 0.0,
) -> bytes:
    """Connect, write ``chunks``, read until 32 bytes or EOF; returns what arrived (b"" = no reply)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        await write_chunks(writer, chunks, chunk_pause)
        if close_write and writer.can_write_eof():
            writer.write_eof()
        received = b""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(received) < REPLY_LENGTH:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no reply within {timeout}s")
            piece = await asyncio.wait_for(reader.read(REPLY_LENGTH - len(received)), remaining)
            if not piece:
                break
            received += piece
        return received
    finally:
        await close_quietly(writer)


@dataclass
class LoadPlan:
    host: str
    port: int
    meters: int = 10
    #: reports per second over all meters; 0 = as fast as the meters get answers
    rate: float = 0.0
    count: int | None = 100
    duration: float | None = None
    mix: Mapping[str, float] = field(default_factory=lambda: {"normal": 90, "event": 5, "init": 5})
    faults: list[str] = field(default_factory=list)
    #: share of reports sent with a fault when faults are enabled
    fault_rate: float = 0.1
    uid_prefix: str = "5A"
    start: int | None = None
    seed: int = 1
    timeout: float = 10.0
    keep_acknowledged: bool = False
    #: a meter whose report got no reply sends the very same packet again as its next report, as real
    #: meters do, instead of a new one
    resend: bool = False
    #: share of replies the meter drops as if lost on the way back (they count as no reply; with
    #: ``resend`` the same report follows): the gateway has committed a report the meter repeats
    lose_reply_rate: float = 0.0


async def run_load(
    plan: LoadPlan,
    stop: asyncio.Event | None = None,
    summary: LoadSummary | None = None,
    on_report: Callable[[LoadSummary], object] | None = None,
) -> LoadSummary:
    """Drive ``plan.meters`` simulated meters, one connection per report, until ``count`` reports were
    sent, ``duration`` seconds passed or ``stop`` is set. ``summary`` (optional) is filled as replies
    arrive, so a caller can watch progress; ``on_report`` (optional) is called with it after each report."""
    if plan.count is None and plan.duration is None and stop is None:
        raise ConfigError("give a report count, a duration or a stop event")
    rng = random.Random(plan.seed)
    start = plan.start if plan.start is not None else int(time.time()) - 30 * 24 * HOUR
    meters = [
        SimulatedMeter(
            meter_uid(plan.uid_prefix, i),
            start=start,
            first_count=rng.randint(0, 50000),
            per_hour=rng.randint(5, 60),
            battery=rng.randint(40, 100),
        )
        for i in range(plan.meters)
    ]
    kinds, weights = zip(*plan.mix.items(), strict=False)
    summary = summary if summary is not None else LoadSummary()
    loop = asyncio.get_running_loop()
    began = loop.time()
    state = {"issued": 0, "next_slot": began}

    def take_turn() -> float | None:
        """Claim the next report: the delay to wait before sending it, or None when done."""
        now = loop.time()
        if stop is not None and stop.is_set():
            return None
        if plan.count is not None and state["issued"] >= plan.count:
            return None
        if plan.duration is not None and now - began >= plan.duration:
            return None
        state["issued"] += 1
        if plan.rate <= 0:
            return 0.0
        slot = max(state["next_slot"], now)
        state["next_slot"] = slot + 1.0 / plan.rate
        return slot - now

    async def one_meter(meter: SimulatedMeter) -> None:
        while (delay := take_turn()) is not None:
            if delay:
                await asyncio.sleep(delay)
            await _send_one(plan, meter, rng.choices(kinds, weights)[0], rng, summary)
            if on_report is not None:
                on_report(summary)

    await asyncio.gather(*(one_meter(m) for m in meters))
    summary.elapsed_s = loop.time() - began
    return summary


async def _send_one(plan: LoadPlan, meter: SimulatedMeter, kind: str, rng: random.Random, summary: LoadSummary) -> None:
    resent = False
    if plan.resend and meter.unanswered is not None:
        kind, packet, readings = meter.unanswered
        fault, resent = None, True
        summary.resent += 1
    else:
        fault = rng.choice(plan.faults) if plan.faults and rng.random() < plan.fault_rate else None
        packet, readings = meter.report(kind, rng)
        summary.reports[kind] = summary.reports.get(kind, 0) + 1
    summary.sent += 1
    close_write = False
    if fault == "garbage":
        chunks = [garbage(rng)]
    elif fault == "truncate":
        chunks, close_write = [packet[: rng.randint(1, REPORT_LENGTH - 1)]], True
    elif fault == "split":
        chunks = split_chunks(packet, rng)
    else:
        chunks = [packet]
    if fault:
        summary.faults[fault] = summary.faults.get(fault, 0) + 1
    expects_reply = fault in (None, "split")
    if expects_reply and plan.resend:
        meter.unanswered = (kind, packet, readings)  # until a reply is taken
    began = time.perf_counter()
    try:
        received = await exchange(
            plan.host, plan.port, chunks, plan.timeout, close_write, chunk_pause=0.001 if fault == "split" else 0.0
        )
    except (OSError, TimeoutError) as exc:
        if not expects_reply and isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            summary.faults_closed_without_reply += 1
            return
        _error(summary, f"{type(exc).__name__}: {exc}")
        if expects_reply:
            summary.no_reply += 1
        return
    latency = (time.perf_counter() - began) * 1000
    if not received:
        if expects_reply:
            summary.no_reply += 1
        else:
            summary.faults_closed_without_reply += 1
        return
    if not expects_reply:
        summary.faults_replied += 1
        return
    try:
        reply = decode_reply(received)
    except Exception as exc:
        _error(summary, f"undecodable reply {received.hex()}: {exc}")
        return
    if reply.get("uid") != meter.uid:
        _error(summary, f"reply for {reply.get('uid')!r} to meter {meter.uid}")
        return
    if plan.lose_reply_rate > 0 and rng.random() < plan.lose_reply_rate:
        summary.lost_replies += 1
        summary.no_reply += 1
        return
    meter.unanswered = None
    summary.replied += 1
    if reply.get("ts_next") == TS_STOP:
        summary.told_to_stop += 1
    summary.latencies_ms.append(latency)
    rc = f"0x{received[0]:02X}"
    summary.return_codes[rc] = summary.return_codes.get(rc, 0) + 1
    if plan.keep_acknowledged:
        summary.acknowledged.append(Acknowledged(meter.uid, kind, readings, reply, packet, resent))


def _error(summary: LoadSummary, message: str) -> None:
    summary.errors += 1
    summary.error_messages[message[:120]] = summary.error_messages.get(message[:120], 0) + 1
