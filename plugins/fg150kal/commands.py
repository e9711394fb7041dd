"""``specgate simulate scale``: stream a simulated FG-150KAL scale to a gateway and print a JSON summary."""

from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal

from core.api import ConfigError, fail, positive_int
from plugins.fg150kal.options import DEFAULT_SCALE_ID


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
        default=DEFAULT_SCALE_ID,
        help="the scale id the listener assigns (reported, for GET /api/scale-gateway/latest/)",
    )
    scale.add_argument("--seed", type=int, default=1)
    scale.set_defaults(func=run_scale_simulator)


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
        summary = asyncio.run(
            run_scale(args.host, args.port, stream, split=args.split, pause=args.interval, seed=args.seed)
        )
    except OSError as exc:
        return fail(f"cannot stream to {args.host}:{args.port}: {exc}")
    summary["scale_id"] = args.scale_id
    print(json.dumps(summary, indent=2, default=lambda v: str(v) if isinstance(v, Decimal) else repr(v)))
    return 0
