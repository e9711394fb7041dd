"""Freshness of the scale API: from a stable line's send to its weight in ``GET /api/scale-gateway/latest/``
and in a ``scale`` message of the live WebSocket (``GET /api/v1/live``).

    python bench/freshness.py [--scales 100] [--rate 10] [--watched 10] [--subscribers 1] [--rounds 3]
                              [--seconds 8] [--backend sqlite|mongodb] [--split] [--aligned]

``specgate serve`` runs one fg150kal listener per simulated scale (``--listen fg150kal:0:...,scale_id=scale-NN``:
from loopback every peer is 127.0.0.1, so ``scale_by_peer`` cannot tell them apart) and the web app, on a
SQLite store in a temporary directory. Each scale streams ``--rate`` stable (``ST``) lines a second, every
weight unique to its scale, so a weight seen in the API names the line that carried it. Independent scales
are not in step: their sends are spread evenly over each period. ``--aligned`` makes every scale send at the
same moments instead, a burst of ``--scales`` lines each period, whose last line waits for all the others. Pollers watch
``--watched`` of the scales, each GETting ``latest/?scale_id=`` in a loop, and record, for every weight they
see for the first time, the time since its line was sent (an upper bound: it includes up to one poll).
Figures per round (p50/p99/max, ms) and the median of the rounds. No baseline: nothing else does this.
As the delays follow the machine's load, each round also gives the CPU time the server process(es) spent
during its WebSocket leg per line sent (``srv CPU us/line``, from ``/proc``): what the push path costs, load
or not.

Each poll opens a new connection, as it did when the web socket ``specgate serve`` bound had no TCP_NODELAY
(every keep-alive answer after the first then waited about 40 ms for the client's delayed ACK; fixed, see
``bench/README.md``), so the HTTP figures compare with the earlier runs.

The WebSocket leg, run after the HTTP leg in each round (each for ``--seconds`` under the same line load):
``--subscribers`` clients (a system-wide API token with the ``scale`` scope, made in the
store before the server starts) receive every line of every scale; for each ``scale`` message, the time since
its line was sent. ``--split`` runs the listeners and the web app in two processes (``serve --no-web`` and
``serve --no-listeners`` on one store), so the push goes through the store's live feed across processes.
``--backend mongodb`` uses ``MONGODB_URI`` or a ``secantusd-py`` the bench starts (as ``bench/store.py``).
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
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from benchlib import (
    HOST,
    cpu_seconds,
    endpoints,
    machine_line,
    median,
    percentile,
    running,
    specgate_command,
    web_url,
)
from httpclient import Connection
from websockets.asyncio.client import connect

from core.security.tokens import new_api_token, token_hash
from core.store import open_store
from plugins.fg150kal.simulator import weight_line

PATH = "/api/scale-gateway/latest/"
LIVE_PATH = "/api/v1/live"


def scale_id(index: int) -> str:
    return f"scale-{index:03d}"


async def stream(
    index: int,
    port: int,
    rate: float,
    seconds: float,
    sent: dict[tuple[int, str], float],
    start_seq: int,
    phase: float = 0.0,
) -> int:
    """Stable lines at ``rate`` per second for ``seconds``, the first ``phase`` of a period late; returns the
    next sequence number."""
    _reader, writer = await asyncio.open_connection(HOST, port)
    seq = start_seq
    started = time.perf_counter() + phase / rate
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


async def subscribe(url: str, token: str) -> object:
    """A live connection past its ``hello``, receiving everything (no subscription)."""
    ws = await connect(url.replace("http://", "ws://") + LIVE_PATH, max_queue=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    hello = json.loads(await ws.recv())
    if hello.get("type") != "hello":
        raise SystemExit(f"the live WebSocket refused the bench's token: {hello}")
    return ws


async def listen(ws: object, until: float, sent: dict[tuple[int, str], float], delays: list[float]) -> int:
    """Record each ``scale`` message's delay since its line was sent; returns how many ``lagged`` arrived."""
    lagged = 0
    while True:
        try:
            text = await asyncio.wait_for(ws.recv(), max(0.05, until + 1.0 - time.perf_counter()))  # type: ignore[attr-defined]
        except TimeoutError:
            return lagged
        received = time.perf_counter()
        message = json.loads(text, parse_float=Decimal)
        if message.get("type") == "lagged":
            lagged += 1
        elif message.get("type") == "scale" and message.get("weight") is not None:
            at = sent.get((int(message["scale_id"].rsplit("-", 1)[1]), f"{Decimal(message['weight']):.2f}"))
            if at is not None:
                delays.append((received - at) * 1000)


async def bench_token(store_url: str) -> str:
    """A system-wide API token with the ``scale`` scope, made in the store the server will open."""
    token_id, token = new_api_token()
    async with open_store(store_url) as store:
        record = {"token_id": token_id, "token_hash": token_hash(token), "tenant": None, "name": "freshness bench"}
        await store.create_api_token({**record, "scopes": ["scale"], "created_by": "bench", "created_at": time.time()})
    return token


@contextlib.contextmanager
def store_url(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'x.db'}"
        return
    from store import mongodb_server  # bench/store.py

    with mongodb_server(workdir) as uri:
        yield uri


@contextlib.contextmanager
def servers(args: argparse.Namespace, workdir: Path, url: str) -> Iterator[tuple[list[int], str, str, list[int]]]:
    """``(listener ports, web URL, description, pids)`` of ``specgate serve``: one process, or two with
    ``--split``."""
    listen = []
    for i in range(args.scales):
        listen += ["--listen", f"fg150kal:0:host={HOST},scale_id={scale_id(i)}"]
    common = ["--store", url, "--log-level", "WARNING"]
    serve = specgate_command() + ["serve"]
    gateway_ready = [r"specgate serving"] + [r"listener fg150kal on"] * args.scales
    with contextlib.ExitStack() as stack:
        if args.split:
            gateway = stack.enter_context(
                running("gateway", [*serve, "--no-web", "--no-listeners", *listen, *common], workdir, gateway_ready)
            )
            web = stack.enter_context(
                running(
                    "web",
                    [*serve, "--no-listeners", "--web-port", "0", *common],
                    workdir,
                    [r"specgate serving", r"web http://"],
                )
            )
            what = f"two processes: serve --no-web (pid {gateway.pid}) and serve --no-listeners (pid {web.pid})"
        else:
            argv = [*serve, "--no-listeners", "--web-port", "0", *listen, *common]
            gateway = web = stack.enter_context(running("specgate", argv, workdir, [*gateway_ready, r"web http://"]))
            what = f"one process (pid {gateway.pid})"
        pids = sorted({gateway.pid, web.pid})
        yield [port for _, port in endpoints(gateway, "fg150kal")], web_url(web), what, pids


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="stable lines per second and scale")
    parser.add_argument("--watched", type=int, default=10, help="scales the pollers watch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per round")
    parser.add_argument("--subscribers", type=int, default=1, help="live WebSocket clients, each receiving every line")
    parser.add_argument("--backend", choices=("sqlite", "mongodb"), default="sqlite")
    parser.add_argument("--split", action="store_true", help="listeners and web app in two processes")
    parser.add_argument(
        "--aligned", action="store_true", help="every scale sends at the same moments (a burst of --scales lines)"
    )
    args = parser.parse_args()
    print(machine_line())
    watched = min(args.watched, args.scales)
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp, store_url(args.backend, Path(tmp)) as url:
        workdir = Path(tmp)
        token = await bench_token(url)
        with servers(args, workdir, url) as (ports, web, what, pids):
            print(f"ours: specgate serve, {len(ports)} fg150kal listeners (one per scale) and the web app, {what};")
            print(f"  store {args.backend} ({'a temp dir' if args.backend == 'sqlite' else url})")
            print(
                f"{args.scales} scales x {args.rate:g} stable lines/s = {args.scales * args.rate:,.0f} lines/s"
                f" ({'all at the same moments' if args.aligned else 'spread over each period'});"
                f" {watched} scales polled (a new connection per GET), then {args.subscribers} live WebSocket"
                f" subscriber(s) receiving every line; {args.rounds} rounds of {args.seconds:g} s per leg"
            )
            print()
            print(
                f"  {'round':>6} {'HTTP':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'poll p50 ms':>12}"
                f" {'WS':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lagged':>6} {'WS lines/s':>10}"
                f" {'srv CPU us/line':>15}"
            )
            seqs = [1] * args.scales
            # independent scales send at independent moments: spread evenly over a period, unless --aligned
            phases = [0.0 if args.aligned else i / args.scales for i in range(args.scales)]
            rows = []
            for r in range(args.rounds + 1):  # round 0 is a warm-up
                # the legs one after the other, each under the same line load: the pollers' new connections
                # would otherwise take the CPU the pushes need (and the other way round)
                delays: list[float] = []
                polls: list[float] = []
                sent: dict[tuple[int, str], float] = {}
                until = time.perf_counter() + args.seconds
                streams = [
                    stream(i, ports[i], args.rate, args.seconds, sent, seqs[i], phases[i]) for i in range(args.scales)
                ]
                pollers = [poll(web, i, until, sent, delays, polls) for i in range(watched)]
                seqs = list((await asyncio.gather(*streams, *pollers))[: args.scales])
                pushed: list[float] = []
                pushed_sent: dict[tuple[int, str], float] = {}
                sockets = [await subscribe(web, token) for _ in range(args.subscribers)]
                started, cpu_before = time.perf_counter(), cpu_seconds(pids)
                until = started + args.seconds
                streams = [
                    stream(i, ports[i], args.rate, args.seconds, pushed_sent, seqs[i], phases[i])
                    for i in range(args.scales)
                ]
                listeners = [listen(ws, until, pushed_sent, pushed) for ws in sockets]
                results = await asyncio.gather(*streams, *listeners)
                rate = len(pushed_sent) / (time.perf_counter() - started)
                cpu = (cpu_seconds(pids) - cpu_before) / max(1, len(pushed_sent)) * 1e6
                for ws in sockets:
                    await ws.close()  # type: ignore[attr-defined]
                seqs = list(results[: args.scales])
                lagged = sum(results[args.scales :])
                if r == 0:
                    continue
                row = (
                    len(delays), percentile(delays, 0.5), percentile(delays, 0.99), max(delays, default=0.0),
                    len(pushed), percentile(pushed, 0.5), percentile(pushed, 0.99), max(pushed, default=0.0), cpu,
                )  # fmt: skip
                rows.append(row)
                print(
                    f"  {r:>6} {row[0]:>6} {row[1]:>8.1f} {row[2]:>8.1f} {row[3]:>8.1f}"
                    f" {percentile(polls, 0.5):>12.1f} {row[4]:>7} {row[5]:>8.1f} {row[6]:>8.1f} {row[7]:>8.1f}"
                    f" {lagged:>6} {rate:>10,.0f} {cpu:>15.0f}"
                )
                await asyncio.sleep(0.5)
            medians = [median([row[i] for row in rows]) for i in range(9)]
            print(
                f"  {'median':>6} {medians[0]:>6.0f} {medians[1]:>8.1f} {medians[2]:>8.1f} {medians[3]:>8.1f}"
                f" {'':>12} {medians[4]:>7.0f} {medians[5]:>8.1f} {medians[6]:>8.1f} {medians[7]:>8.1f}"
                f" {'':>6} {'':>10} {medians[8]:>15.0f}"
            )
            verdict = "met" if medians[6] <= 50 else "NOT met"
            print(f"WebSocket p99 (median of rounds) {medians[6]:.1f} ms; target <= 50 ms: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
