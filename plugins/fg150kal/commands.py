"""``specgate simulate scale``: stream a simulated FG-150KAL scale to a gateway and print a JSON summary."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal

from core.api import ConfigError, add_progress_flag, fail, load_config_for, positive_int, progress_bar
from plugins.fg150kal.listeners import default_listener
from plugins.fg150kal.options import DEFAULT_SCALE_ID, DEVICE_TYPE


def register_simulator(subparsers: argparse._SubParsersAction) -> None:
    scale = subparsers.add_parser(
        "scale",
        help="an A&D FG-150KAL scale streaming readings that settle to stable",
        description="Stream A&D standard-format lines (US readings settling to ST, optional OL overloads, "
        "command replies, power-up NULs, lines split across TCP segments) over one connection.",
    )
    scale.add_argument("--host", default="127.0.0.1")
    scale.add_argument("--port", type=int, default=4001)
    scale.add_argument("--lines", type=positive_int, default=40, help="about how many lines (default 40)")
    scale.add_argument("--settle", type=int, default=4, help="unstable lines before each stable weight")
    scale.add_argument("--overload", type=float, default=0.0, help="chance of an OL line after a weighing")
    scale.add_argument("--replies", type=float, default=0.0, help="chance of a command reply line")
    scale.add_argument("--split", action="store_true", help="cut the bytes across line boundaries")
    scale.add_argument("--nul", action="store_true", help="start with power-up NUL bytes")
    scale.add_argument("--interval", type=float, default=0.0, help="seconds between chunks")
    scale.add_argument(
        "--scale-id",
        help="the scale id the listener assigns, reported for GET /api/scale-gateway/latest/ (default: found "
        "in --config for the listener on --port)",
    )
    scale.add_argument("--config", help="the gateway's configuration, to find the scale id of its listener")
    scale.add_argument("--seed", type=int, default=1)
    add_progress_flag(scale)
    scale.set_defaults(func=run_scale_simulator)


def listener_scale_id(config_file: str | None, port: int) -> str | None:
    """The scale id the configured scale listener on ``port`` assigns; None when the configuration has
    no such listener (then the gateway's own command line decides, which this process cannot see)."""
    if config_file is None:
        return None
    config = load_config_for(argparse.Namespace(config=config_file, store=None))
    configured = config.listeners if config.listeners is not None else [default_listener(config)]
    for listener in reversed([*configured, *config.extra_listeners]):
        if listener.device_type == DEVICE_TYPE and listener.port == port:
            return str(listener.options.get("scale_id") or DEFAULT_SCALE_ID)
    return None


def run_scale_simulator(args: argparse.Namespace) -> int:
    from plugins.fg150kal.simulator import run_scale, scale_stream

    for name in ("overload", "replies"):
        if not 0 <= getattr(args, name) <= 1:
            raise ConfigError(f"--{name} must be between 0 and 1, got {getattr(args, name)}")
    if args.settle < 0:
        raise ConfigError(f"--settle must not be negative, got {args.settle}")
    stream = scale_stream(
        lines=args.lines, settle=args.settle, overload=args.overload, replies=args.replies, nul=args.nul, seed=args.seed
    )
    try:
        with progress_bar(args, len(stream.data), "scale", "B") as bar:
            summary = asyncio.run(
                run_scale(
                    args.host,
                    args.port,
                    stream,
                    split=args.split,
                    pause=args.interval,
                    seed=args.seed,
                    on_written=bar.update,
                )
            )
    except OSError as exc:
        return fail(f"cannot stream to {args.host}:{args.port}: {exc}")
    scale_id = args.scale_id or listener_scale_id(args.config, args.port)
    if scale_id is None:
        print(
            f"specgate: the scale id is the one the listener on port {args.port} assigns; pass --scale-id or "
            "--config to report it",
            file=sys.stderr,
        )
    else:
        summary["scale_id"] = scale_id
    print(json.dumps(summary, indent=2, default=lambda v: str(v) if isinstance(v, Decimal) else repr(v)))
    return 0
