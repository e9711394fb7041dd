"""``specgate serve``: every device listener and the web app in one process and one event loop.

With no configuration: gas meters on 5004, the scale on 4001, the web app on 127.0.0.1:8000, the embedded
SQLite store ``specgate.db``. SIGTERM or SIGINT stops accepting, lets in-flight device sessions finish
within ``shutdown_grace`` seconds, then exits 0.

Web clients and device connections share the process's file descriptors, so before anything is bound the
soft ``RLIMIT_NOFILE`` is raised to the hard limit and every connection limit (each listener's
``max_connections``, twice ``web.max_connections``: the open ones and a burst being refused) plus
``FD_RESERVE`` must fit in it, or the process refuses to start: then neither side can starve the other.

The event loop is uvloop's where it is installed (a dependency on CPython outside Windows), asyncio's
otherwise; the web app is served by uvicorn's h11 protocol with specgate's limits (:mod:`web.server`),
over HTTPS when ``web.ssl_certfile`` and ``web.ssl_keyfile`` (``--ssl-certfile``/``--ssl-keyfile``) name a
PEM certificate and its key, which are checked before anything is bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import logging
import resource
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Iterator, Sequence

import pluggy
import uvicorn
from starlette.applications import Starlette

from core.app import Application
from core.config import Config, ListenerConfig, configure_logging, load_config
from core.errors import ConfigError
from core.gateway.runtime import resolve_listeners
from core.plugins import get_plugin_manager
from core.store import display_url
from web.server import protocol_class

log = logging.getLogger("specgate.serve")

#: descriptors kept for everything but connections: listening sockets, the store, logs, spec files
FD_RESERVE = 64


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's ``new_event_loop`` where uvloop is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def web_stack() -> str:
    """What serves the web app, for benchmarks and reports: ``uvicorn 0.30.0, h11 0.14.0, uvloop 0.19.0``."""
    loop = "uvloop" if event_loop_factory() is not asyncio.new_event_loop else "asyncio"
    names = ("uvicorn", "h11", loop)
    return ", ".join(name if name == "asyncio" else f"{name} {importlib.metadata.version(name)}" for name in names)


def descriptor_budget(config: Config, listeners: Sequence[ListenerConfig]) -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one and return ``(needed, available)``; raise
    ``ConfigError`` when the connection limits do not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. an unlimited hard limit the kernel will not grant
            pass
    device = sum(listener.max_connections for listener in listeners)
    # the open connections, and as many again: one accepted burst being answered 503 and closed
    web = 2 * config.web_max_connections if config.web_enabled else 0
    needed = device + web + FD_RESERVE
    if soft != resource.RLIM_INFINITY and needed > soft:
        raise ConfigError(
            f"the connection limits need {needed} file descriptors (device listeners {device} + "
            f"2 x web.max_connections {web} + {FD_RESERVE} reserved) but the process may open only {soft}: "
            "lower the listeners' max_connections or web.max_connections, or raise the limit (ulimit -n)"
        )
    return needed, soft


def web_server(app: Starlette, config: Config) -> uvicorn.Server:
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
            http=protocol_class(config.web_max_connections, config.web_header_timeout),
            # one above ours, so that the protocol's JSON 503 refuses first and uvicorn's plain-text one
            # (for too many running requests) stays a backstop
            limit_concurrency=config.web_max_connections + 1,
            timeout_keep_alive=config.web_keep_alive_timeout,
            # asyncio accepts up to `backlog` connections per wake-up: kept this small, a burst being refused
            # holds at most this many more descriptors, and the rest wait in the kernel queue
            backlog=config.web_max_connections,
            ssl_certfile=config.web_ssl_certfile,
            ssl_keyfile=config.web_ssl_keyfile,
            # live messages are small JSON: compressing each costs the sender more time than it saves on
            # the wire (browsers ask for permessage-deflate by themselves)
            ws_per_message_deflate=False,
        )
    )


def check_tls_files(config: Config) -> None:
    """Raise ``ConfigError`` in one sentence unless the configured certificate and key load together."""
    if not config.web_https:
        return
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.web_ssl_certfile or "", config.web_ssl_keyfile)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(
            f"cannot serve HTTPS with web.ssl_certfile {config.web_ssl_certfile} and web.ssl_keyfile "
            f"{config.web_ssl_keyfile}: {reason}"
        ) from None


def _bind_web(config: Config) -> socket.socket:
    """The web app's listening socket, bound before uvicorn starts, so a busy port or an impossible host is
    one clear error instead of uvicorn's traceback and exit."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            config.web_host,
            config.web_port,
            type=socket.SOCK_STREAM,
            proto=socket.IPPROTO_TCP,
            flags=socket.AI_PASSIVE,
        )[0]
        # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only then, and without it
        # every keep-alive answer waits for the client's delayed ACK (about 40 ms)
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(config.web_max_connections)
        except OSError:
            sock.close()
            raise
        return sock
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot serve the web app on {config.web_host}:{config.web_port}: {reason}") from None


async def start_web(server: uvicorn.Server, config: Config) -> tuple[asyncio.Task[None], str]:
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
    scheme = "https" if config.web_https else "http"
    return task, f"{scheme}://{config.web_host}:{port}/"


#: the collector's thresholds: young collections every 10,000 allocations rather than 700, the older
#: generations less often in proportion (CPython's defaults are 700, 10, 10)
GC_THRESHOLDS = (10_000, 50, 100)
#: seconds a thread holding the GIL may run before one waiting for it gets it (CPython's default is 0.005)
SWITCH_INTERVAL = 0.001


def tune_interpreter() -> None:
    """Interpreter settings for a long-running ``serve`` process, applied once it has started.

    Everything made at start-up (modules, specs, plugins, the app) is moved out of the collector's sight
    (``gc.freeze``), and young collections run less often: a full collection then scans only what the
    process made since, instead of pausing the event loop for tens of milliseconds while a device waits.
    The shorter switch interval bounds how long the event loop and the threads beside it (the SQLite
    writer's commits, the readers) wait for each other's GIL. Measured with ``python bench/freshness.py --aligned`` (see ``bench/README.md``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL)


async def serve(config: Config, stop: asyncio.Event | None = None, on_started: Callable[[], None] | None = None) -> int:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives; ``on_started`` is called once everything is
    listening (``specgate serve`` tunes the interpreter there, see :func:`tune_interpreter`)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    server = web_task = None
    pm = get_plugin_manager(config.plugins, config.disable_plugins)
    needed, available = descriptor_budget(config, resolve_listeners(config, pm))
    log.info("file descriptors: %d budgeted of %d", needed, available)
    if config.web_enabled:
        check_tls_files(config)
    async with Application(config, pm=pm) as app:
        try:
            if config.web_enabled:
                server = web_server(app.web, config)
                web_task, url = await start_web(server, config)
            if on_started is not None:
                on_started()
            print(f"specgate serving (store {app.store.backend}: {display_url(config.store_url)})", flush=True)
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


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(
        args.config,
        store_url=args.store,
        web_host=args.host,
        web_port=args.web_port,
        web_enabled=False if args.no_web else None,
        web_max_connections=args.web_max_connections,
        listeners_enabled=False if args.no_listeners else None,
        listen=args.listen,
        log_level=args.log_level,
        log_format=args.log_format,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    configure_logging(config)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(serve(config, on_started=tune_interpreter))
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
    parser.add_argument(
        "--web-max-connections", type=int, help="open web connections at most; more get 503 (default: 100)"
    )
    parser.add_argument("--no-web", action="store_true", help="run the device listeners only")
    parser.add_argument("--ssl-certfile", metavar="PEM", help="serve the web app over HTTPS with this certificate")
    parser.add_argument(
        "--ssl-keyfile", metavar="PEM", help="the certificate's private key (needed with --ssl-certfile)"
    )
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
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR, CRITICAL (default: INFO)")
    parser.add_argument(
        "--log-format", choices=("text", "json"), help="text lines (default) or one JSON object per line"
    )
    parser.set_defaults(func=run)
