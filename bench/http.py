"""Requests per second of ``GET /api/scale-gateway/latest/`` on ``specgate serve`` against a bare Starlette app.

    python bench/http.py [--rounds 5] [--seconds 3] [--connections 16]

"Ours" is ``specgate serve`` with the web app only (no device listeners) on a SQLite store in a temporary
directory that holds a stable reading of scale ``default`` (written with the Store API before the server
starts), so every request reads the store. The baseline is ``bench/baseline_http.py``: Starlette under
uvicorn with the same settings, one route answering the same JSON object (the body ours answered first),
serialised per request. This process is the only client: ``--connections`` keep-alive HTTP/1.1 connections
(``bench/httpclient.py``), each sending its next request when the previous answer is read. The sides run
alternately in rounds; requests/s per round and the medians, ratio ours/baseline (target >= 0.6).
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchlib import BENCH, machine_line, print_ratio_table, running, specgate_command, web_url
from httpclient import Connection

from core.cli.serve import web_stack
from core.store import open_store

PATH = "/api/scale-gateway/latest/"


async def store_reading(db: Path) -> None:
    async with open_store(f"sqlite:///{db}") as store:
        reading = {
            "status": "ST",
            "weight": Decimal("53.25"),
            "unit": "kg",
            "raw": "ST,+00053.25 kg",
            "received_at": time.time(),
        }
        await store.set_scale_latest("default", reading)


async def load(url: str, connections: int, seconds: float) -> tuple[float, int]:
    """(requests/s, failed requests) of ``connections`` keep-alive connections for ``seconds``."""
    done = failed = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done, failed
        conn = Connection(url)
        try:
            while time.perf_counter() < deadline:
                try:
                    status, _ = await conn.get(PATH)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    failed += 1
                    await conn.close()
                    continue
                if status == 200:
                    done += 1
                else:
                    failed += 1
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return done / (time.perf_counter() - started), failed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per side and round")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument(
        "--baseline-socket-like-serve",
        action="store_true",
        help="bind the baseline's socket as specgate serve does (core.cli.serve's own function)",
    )
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp:
        workdir = Path(tmp)
        db = workdir / "x.db"
        await store_reading(db)
        ours_argv = specgate_command() + [
            "serve",
            "--no-listeners",
            "--web-port",
            "0",
            "--store",
            f"sqlite:///{db}",
            "--log-level",
            "WARNING",
        ]
        with running("specgate", ours_argv, workdir, [r"specgate serving", r"web http://"]) as ours:
            urls = {"ours": web_url(ours)}
            conn = Connection(urls["ours"])
            status, body = await conn.get(PATH)
            await conn.close()
            if status != 200:
                raise SystemExit(f"GET {PATH} on specgate answered {status}: {body!r}")
            (workdir / "body.json").write_bytes(body)
            base_argv = [specgate_command()[0], str(BENCH / "baseline_http.py"), str(workdir / "body.json")]
            if args.baseline_socket_like_serve:
                base_argv.append("--socket-like-serve")
            with running("baseline", base_argv, workdir, [r"stack ", r"listening http://"]) as base:
                base_stack = base.lines[0].removeprefix("stack ")
                urls["baseline"] = base.lines[1].split()[-1]
                conn = Connection(urls["baseline"])
                base_status, base_body = await conn.get(PATH)
                await conn.close()
                if base_status != 200 or json.loads(base_body).keys() != json.loads(body).keys():
                    raise SystemExit(f"the baseline answered {base_status}: {base_body!r}")
                print(f"ours: specgate serve (web only), SQLite in a temp dir, pid {ours.pid}; body {body.decode()}")
                print(f"  served by {web_stack()} (specgate's limited h11 protocol)")
                how = "bound like specgate serve" if args.baseline_socket_like_serve else "bound by uvicorn"
                print(f"baseline: bare Starlette + uvicorn ({how}), pid {base.pid}, body of {len(base_body)} bytes")
                print(f"  served by {base_stack} (uvicorn's h11 protocol)")
                print(
                    f"{args.rounds} rounds of {args.seconds:g} s per side, interleaved, after a warm-up;"
                    f" {args.connections} keep-alive connections"
                )
                print()
                for side in urls:
                    await load(urls[side], args.connections, min(1.0, args.seconds))
                results: dict[str, list[tuple[float, int]]] = {side: [] for side in urls}
                for r in range(args.rounds):
                    for side in list(urls) if r % 2 == 0 else list(reversed(urls)):
                        results[side].append(await load(urls[side], args.connections, args.seconds))
    print_ratio_table(
        f"GET {PATH}: requests/s",
        "req/s",
        [r[0] for r in results["ours"]],
        [r[0] for r in results["baseline"]],
        target=">= 0.6",
    )
    failed = {side: sum(r[1] for r in results[side]) for side in results}
    print(f"  failed requests: ours {failed['ours']}, baseline {failed['baseline']}")


if __name__ == "__main__":
    asyncio.run(main())
