"""``specgate serve``: every device listener and the web app in one process and one event loop.

With no configuration: gas meters on 5004, the scale on 4001, the web app on 127.0.0.1:8000, the embedded
SQLite store ``specgate.db``. SIGTERM or SIGINT stops accepting, lets in-flight device sessions finish
within ``shutdown_grace`` seconds, then exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import pluggy
import uvicorn
from starlette.applications import Starlette

from core.app import Application
from core.config import Config, configure_logging, load_config
from core.errors import ConfigError

log = logging.getLogger("specgate.serve")


def _web_server(app: Starlette, config: Config) -> uvicorn.Server:
    class Server(uvicorn.Server):
        # specgate owns SIGTERM/SIGINT so it can stop the device listeners too
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(
        uvicorn.Config(
            app,
            host=config.web_host,
            port=config.web_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )


def _bind_web(config: Config) -> socket.socket:
    """The web app's listening socket, bound before uvicorn starts, so a busy port or an impossible host is
    one clear error instead of uvicorn's traceback and exit."""
    try:
        return socket.create_server((config.web_host, config.web_port), reuse_port=False)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot serve the web app on {config.web_host}:{config.web_port}: {reason}") from None


async def _start_web(server: uvicorn.Server, config: Config) -> tuple[asyncio.Task[None], str]:
    sock = _bind_web(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            with contextlib.suppress(BaseException):
                task.result()
            sock.close()
            raise ConfigError(f"cannot serve the web app on {config.web_host}:{config.web_port} (see the log above)")
        await asyncio.sleep(0.05)
    port = sock.getsockname()[1]
    return task, f"http://{config.web_host}:{port}/"


async def serve(config: Config, stop: asyncio.Event | None = None) -> int:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    server = web_task = None
    async with Application(config) as app:
        try:
            if config.web_enabled:
                server = _web_server(app.web, config)
                web_task, url = await _start_web(server, config)
            print(f"specgate serving (store {app.store.backend}: {config.store_url})", flush=True)
            for endpoint in app.gateway.endpoints():
                print(f"  listener {endpoint}", flush=True)
            print(f"  web {url}" if server is not None else "  web disabled", flush=True)
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            waiters = [asyncio.create_task(stop.wait())] + ([web_task] if web_task else [])
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            waiters[0].cancel()
            print("specgate stopping", flush=True)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            if server is not None and web_task is not None:
                server.should_exit = True
                with contextlib.suppress(BaseException):
                    await web_task
    print("specgate stopped", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    config = load_config(
        args.config,
        store_url=args.store,
        web_host=args.host,
        web_port=args.web_port,
        web_enabled=False if args.no_web else None,
        listeners_enabled=False if args.no_listeners else None,
        listen=args.listen,
        log_level=args.log_level,
        log_format=args.log_format,
    )
    configure_logging(config)
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:
        print("specgate interrupted", file=sys.stderr)
        return 130


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the device listeners and the web app",
        description="Run every device listener and the web app in one process (see docs/configuration.md).",
    )
    parser.add_argument("--config", help="YAML configuration file (default: SPECGATE_CONFIG)")
    parser.add_argument(
        "--store", help="store URL: sqlite:///FILE or mongodb://HOST:PORT/ (default: sqlite:///specgate.db)"
    )
    parser.add_argument("--host", help="web app host (default: 127.0.0.1)")
    parser.add_argument("--web-port", type=int, help="web app port (default: 8000; 0 = any free port)")
    parser.add_argument("--no-web", action="store_true", help="run the device listeners only")
    parser.add_argument(
        "--no-listeners",
        action="store_true",
        help="drop the configured (or default) device listeners: the web app only, or exactly the --listen ones",
    )
    parser.add_argument(
        "--listen",
        action="append",
        metavar="DEVICE_TYPE:PORT[:key=value,...]",
        help="add a listener, replacing any on the same port (device types: specgate specs); repeatable",
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (default: INFO)")
    parser.add_argument(
        "--log-format", choices=("text", "json"), help="text lines (default) or one JSON object per line"
    )
    parser.set_defaults(func=run)
