"""Freshness of the scale API: from a stable line's send to its weight in ``GET /api/scale-gateway/latest/``.

    python bench/freshness.py [--scales 100] [--rate 10] [--watched 10] [--rounds 3] [--seconds 8]

``specgate serve`` runs one fg150kal listener per simulated scale (``--listen fg150kal:0:...,scale_id=scale-NN``:
from loopback every peer is 127.0.0.1, so ``scale_by_peer`` cannot tell them apart) and the web app, on a
SQLite store in a temporary directory. Each scale streams ``--rate`` stable (``ST``) lines a second, every
weight unique to its scale, so a weight seen in the API names the line that carried it. Pollers watch
``--watched`` of the scales, each GETting ``latest/?scale_id=`` in a loop, and record, for every weight they
see for the first time, the time since its line was sent (an upper bound: it includes up to one poll).
Figures per round (p50/p99/max, ms) and the median of the rounds. No baseline: nothing else does this.

Each poll opens a new connection: on a keep-alive connection every answer after the first waits about 40 ms
for the client's delayed ACK (the web socket ``specgate serve`` binds has no TCP_NODELAY; see
``bench/http.py --baseline-socket-like-serve``), which would swamp what is measured here.

The WebSocket leg (a line's weight pushed to a subscriber) does not exist yet and is not measured.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchlib import HOST, endpoints, machine_line, median, percentile, running, specgate_command, web_url
from httpclient import Connection

from plugins.fg150kal.simulator import weight_line

PATH = "/api/scale-gateway/latest/"


def scale_id(index: int) -> str:
    return f"scale-{index:03d}"


async def stream(
    index: int, port: int, rate: float, seconds: float, sent: dict[tuple[int, str], float], start_seq: int
) -> int:
    """Stable lines at ``rate`` per second for ``seconds``; returns the next sequence number."""
    _reader, writer = await asyncio.open_connection(HOST, port)
    seq = start_seq
    started = time.perf_counter()
    try:
        while True:
            due = started + (seq - start_seq) / rate
            now = time.perf_counter()
            if due - started >= seconds:
                break
            if due > now:
                await asyncio.sleep(due - now)
            weight = Decimal(seq) / 100  # unique per scale: 0.01 kg steps up to 99999.99
            writer.write((weight_line("ST", weight) + "\r\n").encode("ascii"))
            sent[(index, f"{weight:.2f}")] = time.perf_counter()
            seq += 1
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return seq


async def poll(
    url: str, index: int, until: float, sent: dict[tuple[int, str], float], delays: list[float], polls: list[float]
) -> None:
    seen: set[str] = set()
    target = f"{PATH}?scale_id={scale_id(index)}"
    while time.perf_counter() < until:
        conn = Connection(url)
        asked = time.perf_counter()
        try:
            status, body = await conn.get(target)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await asyncio.sleep(0.01)
            continue
        finally:
            await conn.close()
        answered = time.perf_counter()
        polls.append((answered - asked) * 1000)
        if status != 200:
            await asyncio.sleep(0.005)
            continue
        weight = f"{Decimal(str(json.loads(body)['weight'])):.2f}"
        if weight not in seen:
            seen.add(weight)
            at = sent.get((index, weight))
            if at is not None:
                delays.append((answered - at) * 1000)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="stable lines per second and scale")
    parser.add_argument("--watched", type=int, default=10, help="scales the pollers watch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per round")
    args = parser.parse_args()
    print(machine_line())
    watched = min(args.watched, args.scales)
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp:
        workdir = Path(tmp)
        argv = specgate_command() + ["serve", "--no-listeners", "--web-port", "0"]
        for i in range(args.scales):
            argv += ["--listen", f"fg150kal:0:host={HOST},scale_id={scale_id(i)}"]
        argv += ["--store", f"sqlite:///{workdir / 'x.db'}", "--log-level", "WARNING"]
        ready = [r"specgate serving"] + [r"listener fg150kal on"] * args.scales + [r"web http://"]
        with running("specgate", argv, workdir, ready) as ours:
            ports = [port for _, port in endpoints(ours, "fg150kal")]
            url = web_url(ours)
            print(
                f"ours: specgate serve, {len(ports)} fg150kal listeners (one per scale) and the web app, SQLite in a"
                f" temp dir, pid {ours.pid}"
            )
            print(
                f"{args.scales} scales x {args.rate:g} stable lines/s = {args.scales * args.rate:,.0f} lines/s;"
                f" {watched} scales polled (a new connection per GET); {args.rounds} rounds of {args.seconds:g} s"
            )
            print("WebSocket leg: does not exist yet, not measured")
            print()
            print(
                f"  {'round':>6} {'seen':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'poll p50 ms':>12} {'lines/s':>8}"
            )
            seqs = [1] * args.scales
            rows = []
            for r in range(args.rounds + 1):  # round 0 is a warm-up
                sent: dict[tuple[int, str], float] = {}
                delays: list[float] = []
                polls: list[float] = []
                started = time.perf_counter()
                until = started + args.seconds
                streams = [stream(i, ports[i], args.rate, args.seconds, sent, seqs[i]) for i in range(args.scales)]
                pollers = [poll(url, i, until, sent, delays, polls) for i in range(watched)]
                results = await asyncio.gather(*streams, *pollers)
                seqs = list(results[: args.scales])
                rate = len(sent) / (time.perf_counter() - started)
                if r == 0:
                    continue
                row = (len(delays), percentile(delays, 0.5), percentile(delays, 0.99), max(delays, default=0.0))
                rows.append(row)
                print(
                    f"  {r:>6} {row[0]:>6} {row[1]:>8.1f} {row[2]:>8.1f} {row[3]:>8.1f}"
                    f" {percentile(polls, 0.5):>12.1f} {rate:>8,.0f}"
                )
                await asyncio.sleep(0.5)
            print(
                f"  {'median':>6} {median([r[0] for r in rows]):>6.0f} {median([r[1] for r in rows]):>8.1f}"
                f" {median([r[2] for r in rows]):>8.1f} {median([r[3] for r in rows]):>8.1f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
