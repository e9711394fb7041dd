"""Gas-meter sessions per second through ``specgate serve`` against a bare asyncio server, and latency.

    python bench/sessions.py [--rounds 5] [--seconds 3] [--concurrency 50] [--latency-concurrency 200]
                             [--compare DIR]

A session is what a meter does: connect, send one real 256-byte report (built with
``plugins.gas_meter.simulator``, of a device provisioned with the Store API), read the 32-byte reply, close.
"Ours" is ``specgate serve --no-web`` with one gas_meter listener and a SQLite store in a temporary
directory (defaults otherwise: the exchange log is on); the baseline is ``bench/baseline_tcp.py``, which
reads 256 bytes and writes 32. A third side, the durable floor (``bench/floor_tcp.py``, on its own copy of
the provisioned database), is a hand-written server doing the database work of such a session and answering
once it is durable, with none of specgate: against the baseline it shows what durability costs, against ours
what specgate costs. All are subprocesses; this process is the only client. The sides run in turn in rounds
(the order reverses every round) and the medians are reported:

1. sessions/s at ``--concurrency`` meters, ratio ours/baseline (target >= 0.5), then ours and the floor;
2. at ``--latency-concurrency`` meters, p50/p99 of a session (connect to reply) on each side (target: ours
   p99 < 100 ms).

``--compare DIR`` adds a fourth side, the ``specgate serve`` of another checkout (``python -m core`` run in
DIR, on its own copy of the database), in the same rounds: a before and after measured together.

After each, the CPU time each server process used per session (its ``/proc`` times over the round, all its
threads), medians of the rounds: on this machine the client shares the cores, so what a session costs the
server is the figure that moves least with the machine's load.

Every meter cycles through ``--packets`` consecutive hourly reports: after one pass its readings are
already stored (skipped as duplicates) while the device fields are still updated, as when a meter retries.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from pathlib import Path

from benchlib import (
    BENCH,
    HOST,
    cpu_times,
    endpoints,
    machine_line,
    median,
    percentile,
    print_ratio_table,
    running,
    specgate_command,
    verdict,
)

from core.store import open_store
from plugins.gas_meter.simulator import REPLY_LENGTH, SimulatedMeter, decode_reply, meter_uid

TENANT = "bench_gas"
START = 1741190400  # 2025-03-05 16:00 UTC
DEVICE = {
    "flag": True,
    "ref_interval": 43200,
    "minimum": 10,
    "maximum": 600,
    "initial_count": 5000,
    "server_ip": "192.0.2.10",
    "server_port": 5004,
}


async def provision(db: Path, meters: int) -> None:
    async with open_store(f"sqlite:///{db}") as store:
        await store.add_tenant(TENANT)
        for i in range(meters):
            await store.add_device(TENANT, {"device_uid": meter_uid("BE", i), "meter_id": f"M{i:011d}", **DEVICE})


def build_packets(meters: int, per_meter: int) -> list[list[bytes]]:
    rng = random.Random(8)
    packets = []
    for i in range(meters):
        meter = SimulatedMeter(meter_uid("BE", i), start=START)
        packets.append([meter.report("normal", rng)[0] for _ in range(per_meter)])
    return packets


def serve_argv(db: Path) -> list[str]:
    """``specgate serve`` with one gas_meter listener (on an ephemeral port) and the SQLite store ``db``."""
    return specgate_command() + [
        "serve",
        "--no-web",
        "--no-listeners",
        "--listen",
        f"gas_meter:0:host={HOST}",
        "--store",
        f"sqlite:///{db}",
        "--log-level",
        "WARNING",
    ]


async def one_session(port: int, packet: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(packet)
        return await reader.readexactly(REPLY_LENGTH)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def load(
    port: int, packets: list[list[bytes]], concurrency: int, seconds: float
) -> tuple[float, list[float], int]:
    """``concurrency`` meters in a loop for ``seconds``: (sessions/s, latencies in ms, errors)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def meter(index: int) -> None:
        nonlocal errors
        own = packets[index % len(packets)]
        k = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await one_session(port, own[k % len(own)])
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                await asyncio.sleep(0.01)
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            k += 1

    started = time.perf_counter()
    await asyncio.gather(*(meter(i) for i in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies, errors


#: sessions/s, latencies (ms), errors, server CPU µs/session (user and system), of which user
Result = tuple[float, list[float], int, float, float]


async def rounds(
    ports: dict[str, int],
    pids: dict[str, int],
    packets: list[list[bytes]],
    concurrency: int,
    seconds: float,
    count: int,
) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {side: [] for side in ports}
    for side in ports:  # warm-up: caches, first-time inserts, the kernel's port reuse
        await load(ports[side], packets, concurrency, min(1.0, seconds))
    for r in range(count):
        order = list(ports) if r % 2 == 0 else list(reversed(ports))
        for side in order:
            user_before, system_before = cpu_times([pids[side]])
            rate, latencies, errors = await load(ports[side], packets, concurrency, seconds)
            user, system = cpu_times([pids[side]])
            per_session = 1e6 / max(1, len(latencies))
            user = (user - user_before) * per_session
            results[side].append((rate, latencies, errors, user + (system - system_before) * per_session, user))
    return results


def print_cpu(results: dict[str, list[Result]]) -> None:
    """Each server's CPU time per session, and the user part of it: the kernel's part swings with the load
    of the machine, so a change in the server's own code shows first in the user figure."""
    sides = {"ours": "ours", "baseline": "baseline", "floor": "durable floor", "compare": "compare"}
    parts = []
    for side, name in sides.items():
        if side not in results:
            continue
        total, user = (median([r[index] for r in results[side]]) for index in (3, 4))
        parts.append(f"{name} {total:,.0f} µs (user {user:,.0f})")
    print(f"  server CPU per session (median of the rounds): {', '.join(parts)}")


def latency_medians(results: list[Result]) -> tuple[float, float, float]:
    """p50 and p99 (ms) and sessions/s of one side, medians of its rounds."""
    return (
        median([percentile(r[1], 0.5) for r in results]),
        median([percentile(r[1], 0.99) for r in results]),
        median([r[0] for r in results]),
    )


def print_failures(results: dict[str, list[Result]]) -> None:
    errors = ", ".join(f"{side} {sum(r[2] for r in rounds)}" for side, rounds in results.items())
    print(f"  failed sessions: {errors}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per side and round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-concurrency", type=int, default=200)
    parser.add_argument("--packets", type=int, default=10, help="consecutive reports per meter, cycled")
    parser.add_argument("--compare", type=Path, help="another checkout whose specgate serve runs in the rounds too")
    args = parser.parse_args()
    meters = max(args.concurrency, args.latency_concurrency)
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        db, floor_db, compare_db = workdir / "x.db", workdir / "floor.db", workdir / "compare.db"
        await provision(db, meters)
        await provision(floor_db, meters)
        packets = build_packets(meters, args.packets)
        serving = [r"specgate serving", r"listener gas_meter on"]
        ours = stack.enter_context(running("specgate", serve_argv(db), workdir, serving))
        base_argv = [*specgate_command()[:1], str(BENCH / "baseline_tcp.py")]
        base = stack.enter_context(running("baseline", base_argv, workdir, [r"listening "]))
        floor_argv = [*specgate_command()[:1], str(BENCH / "floor_tcp.py"), "--db", str(floor_db)]
        floor = stack.enter_context(running("floor", floor_argv, workdir, [r"listening "]))
        ports = {
            "ours": endpoints(ours, "gas_meter")[0][1],
            "baseline": int(base.lines[0].rsplit(":", 1)[1]),
            "floor": int(floor.lines[0].rsplit(":", 1)[1]),
        }
        pids = {"ours": ours.pid, "baseline": base.pid, "floor": floor.pid}
        if args.compare is not None:
            await provision(compare_db, meters)
            compare = stack.enter_context(
                running("compare", serve_argv(compare_db), workdir, serving, cwd=args.compare.resolve())
            )
            ports["compare"], pids["compare"] = endpoints(compare, "gas_meter")[0][1], compare.pid
        for side in (side for side in ports if side != "baseline"):
            reply = decode_reply(await one_session(ports[side], packets[0][0]))
            if reply["ts_next"] == 0xFFFFFFFF:
                raise SystemExit(f"{side} told the provisioned meter to stop: {reply}")
        print(
            f"ours: specgate serve, SQLite in a temp dir, pid {ours.pid}; baseline: bare asyncio, pid {base.pid};"
            f" durable floor: bench/floor_tcp.py, pid {floor.pid}"
        )
        if args.compare is not None:
            print(f"compare: specgate serve of {args.compare}, pid {pids['compare']}")
        print(f"{args.rounds} rounds of {args.seconds:g} s per side, interleaved, after a warm-up")
        print()

        result = await rounds(ports, pids, packets[: args.concurrency], args.concurrency, args.seconds, args.rounds)
        print_ratio_table(
            f"1. sessions/s at {args.concurrency} concurrent meters",
            "sess/s",
            [r[0] for r in result["ours"]],
            [r[0] for r in result["baseline"]],
            target=">= 0.5",
        )
        floor_ratio = median([f[0] / b[0] for f, b in zip(result["floor"], result["baseline"], strict=True)])
        print(f"  durable floor / baseline (median of the rounds): {floor_ratio:.2f}")
        print_failures(result)
        print_cpu(result)
        print()
        for side, label, name in (("floor", "1b", "the durable floor"), ("compare", "1c", "compare")):
            if side in result:
                if side == "compare":
                    print()
                print_ratio_table(
                    f"{label}. the same rounds: ours against {name} at {args.concurrency} concurrent meters",
                    "sess/s",
                    [r[0] for r in result["ours"]],
                    [r[0] for r in result[side]],
                    base_name=side,
                )
        print()

        conc = args.latency_concurrency
        result = await rounds(ports, pids, packets[:conc], conc, args.seconds, args.rounds)
        print(f"2. session latency at {conc} concurrent meters (connect to reply), ms")
        print(f"  {'round':>6} {'ours p50':>9} {'ours p99':>9} {'base p50':>9} {'base p99':>9} {'ours sess/s':>12}")
        for i, (o, b) in enumerate(zip(result["ours"], result["baseline"], strict=True), 1):
            print(
                f"  {i:>6} {percentile(o[1], 0.5):>9.1f} {percentile(o[1], 0.99):>9.1f}"
                f" {percentile(b[1], 0.5):>9.1f} {percentile(b[1], 0.99):>9.1f} {o[0]:>12,.0f}"
            )
        p50, p99, rate = latency_medians(result["ours"])
        b50, b99, _ = latency_medians(result["baseline"])
        print(
            f"  {'median':>6} {p50:>9.1f} {p99:>9.1f} {b50:>9.1f} {b99:>9.1f} {rate:>12,.0f}"
            f"   target ours p99 < 100 ms: {'met' if verdict(p99, '< 100') else 'NOT met'}"
        )
        for side, name in (("floor", "durable floor"), ("compare", "compare")):
            if side in result:
                s50, s99, srate = latency_medians(result[side])
                print(f"  {name} (medians): p50 {s50:.1f}, p99 {s99:.1f}, {srate:,.0f} sess/s")
        if "compare" in result:
            print(f"  compare p99 by round: {', '.join(f'{percentile(c[1], 0.99):.1f}' for c in result['compare'])}")
        print_failures(result)
        print_cpu(result)


if __name__ == "__main__":
    asyncio.run(main())
