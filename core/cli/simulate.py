"""``specgate simulate gas-meter|scale``: drive a gateway with simulated devices and print a JSON summary."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal

from core.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="simulate devices against a running gateway",
        description="Connect simulated devices to a gateway over TCP and print a JSON summary.",
    )
    kinds = parser.add_subparsers(dest="device", metavar="DEVICE")
    kinds.required = True

    meters = kinds.add_parser(
        "gas-meter", help="NB-IoT gas meters: one 256-byte report per connection, 32-byte reply expected",
        description="Each report opens a connection, sends a real 256-byte packet built with the gas_meter "
        "spec, waits for the 32-byte reply and checks that it decodes. Unregistered meters are told to stop "
        "(RC 0xC0, TS next 0xFFFFFFFF); register them first with 'specgate devices add' for normal replies.",
    )
    meters.add_argument("--host", default="127.0.0.1")
    meters.add_argument("--port", type=int, default=5004)
    meters.add_argument("--meters", type=_positive_int, default=10, help="simulated meters (default 10)")
    meters.add_argument("--rate", type=float, default=0.0,
                        help="reports per second over all meters; 0 = as fast as replies come (default)")
    amount = meters.add_mutually_exclusive_group()
    amount.add_argument("--count", type=_positive_int, help="reports to send (default 100)")
    amount.add_argument("--duration", type=float, help="seconds to keep sending")
    meters.add_argument("--mix", default="normal=90,event=5,init=5",
                        help="report kinds and weights (default normal=90,event=5,init=5)")
    meters.add_argument("--faults", default="", help="comma-separated faults to inject: split,garbage,truncate")
    meters.add_argument("--fault-rate", type=float, default=0.1, help="share of reports with a fault (default 0.1)")
    meters.add_argument("--uid-prefix", default="5A", help="hex prefix of the meters' 8-digit uids (default 5A)")
    meters.add_argument("--seed", type=int, default=1)
    meters.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each reply")
    meters.set_defaults(func=_run_gas_meter)

    scale = kinds.add_parser(
        "scale", help="an A&D FG-150KAL scale streaming readings that settle to stable",
        description="Stream A&D standard-format lines (US readings settling to ST, optional OL overloads, "
        "command replies, power-up NULs, lines split across TCP segments) over one connection.",
    )
    scale.add_argument("--host", default="127.0.0.1")
    scale.add_argument("--port", type=int, default=4001)
    scale.add_argument("--lines", type=_positive_int, default=40, help="about how many lines (default 40)")
    scale.add_argument("--settle", type=int, default=4, help="unstable lines before each stable weight")
    scale.add_argument("--overload", type=float, default=0.0, help="chance of an OL line after a weighing")
    scale.add_argument("--replies", type=float, default=0.0, help="chance of a command reply line")
    scale.add_argument("--split", action="store_true", help="cut the bytes across line boundaries")
    scale.add_argument("--nul", action="store_true", help="start with power-up NUL bytes")
    scale.add_argument("--interval", type=float, default=0.0, help="seconds between chunks")
    scale.add_argument("--scale-id", default="default",
                       help="the scale id the listener assigns (reported, for GET /api/scale-gateway/latest/)")
    scale.add_argument("--seed", type=int, default=1)
    scale.set_defaults(func=_run_scale)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _run_gas_meter(args: argparse.Namespace) -> int:
    from core.simulate.gas_meter import LoadPlan, parse_faults, parse_mix, run_load

    if not 0 <= args.fault_rate <= 1:
        raise ConfigError(f"--fault-rate must be between 0 and 1, got {args.fault_rate}")
    if args.rate < 0:
        raise ConfigError(f"--rate must not be negative, got {args.rate}")
    plan = LoadPlan(
        host=args.host, port=args.port, meters=args.meters, rate=args.rate,
        count=None if args.duration is not None else (args.count or 100), duration=args.duration,
        mix=parse_mix(args.mix), faults=parse_faults(args.faults), fault_rate=args.fault_rate,
        uid_prefix=args.uid_prefix, seed=args.seed, timeout=args.timeout,
    )
    summary = asyncio.run(run_load(plan)).as_dict()
    print(json.dumps(summary, indent=2))
    return 0 if summary["errors"] == 0 and summary["no_reply"] == 0 and summary["faults_replied"] == 0 else 1


def _run_scale(args: argparse.Namespace) -> int:
    from core.simulate.scale import run_scale, scale_stream

    for name in ("overload", "replies"):
        if not 0 <= getattr(args, name) <= 1:
            raise ConfigError(f"--{name} must be between 0 and 1, got {getattr(args, name)}")
    if args.settle < 0:
        raise ConfigError(f"--settle must not be negative, got {args.settle}")
    stream = scale_stream(lines=args.lines, settle=args.settle, overload=args.overload, replies=args.replies,
                          nul=args.nul, seed=args.seed)
    try:
        summary = asyncio.run(run_scale(args.host, args.port, stream, split=args.split, pause=args.interval,
                                        seed=args.seed))
    except OSError as exc:
        print(f"specgate: error: cannot stream to {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    summary["scale_id"] = args.scale_id
    print(json.dumps(summary, indent=2, default=lambda v: str(v) if isinstance(v, Decimal) else repr(v)))
    return 0

