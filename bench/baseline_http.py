"""The bare Starlette baseline of the HTTP benchmarks: one route answering a constant JSON object.

    python bench/baseline_http.py BODY.json [--path /api/scale-gateway/latest/]

Served by uvicorn with the settings ``specgate serve`` uses (no access log, no lifespan, the same event loop:
``core.cli.serve.event_loop_factory``, uvloop where installed; the same HTTP implementation: uvicorn's h11
protocol, without specgate's limits), on a socket uvicorn binds itself (``--socket-like-serve``: bound the
way ``specgate serve`` binds its web socket); prints ``stack ...`` (``core.cli.serve.web_stack``) and then
``listening http://HOST:PORT`` once it accepts; SIGTERM stops it.
The object is serialised on every request, as a real route would.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.cli.serve import _bind_web, event_loop_factory, web_stack
from core.config import Config


def app_for(body: dict, path: str) -> Starlette:
    async def constant(request: Request) -> Response:
        return JSONResponse(body)

    return Starlette(routes=[Route(path, constant, methods=["GET"])])


async def main(body: dict, path: str, socket_like_serve: bool) -> None:
    class Server(uvicorn.Server):
        # the signals are this script's, as they are specgate serve's
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = Server(
        uvicorn.Config(
            app_for(body, path),
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
            http="h11",
        )
    )
    if socket_like_serve:
        # bound by the very function core/cli/serve.py binds the web app with (its proto says TCP, so the
        # accepted connections get TCP_NODELAY)
        sock = _bind_web(Config(web_host="127.0.0.1", web_port=0))
        task = asyncio.create_task(server.serve(sockets=[sock]))
    else:
        task = asyncio.create_task(server.serve())  # uvicorn binds host and port itself
    while not server.started:
        if task.done():
            await task
            raise SystemExit("uvicorn did not start")
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"stack {web_stack()}", flush=True)
    print(f"listening http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.wait([asyncio.create_task(stop.wait()), task], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await task


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("body", type=Path, help="a JSON object to answer")
    parser.add_argument("--path", default="/api/scale-gateway/latest/")
    parser.add_argument("--socket-like-serve", action="store_true", help="bind the socket as specgate serve does")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main(json.loads(args.body.read_text()), args.path, args.socket_like_serve))
