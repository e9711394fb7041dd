"""The gas meter's commands: ``specgate devices add|list`` (registering meters before any web UI, on either
store) and ``specgate simulate gas-meter``. Device documents keep the original field names and int32 types."""

from __future__ import annotations

import argparse
import asyncio
import functools
import ipaddress
import json
from typing import Any

from core.api import (
    ConfigError,
    Conflict,
    Store,
    add_store_flags,
    all_pages,
    fail,
    int_range,
    need_subcommand,
    positive_int,
    print_rows,
    run_with_store,
    tenant_name,
)
from plugins.gas_meter.protocol import INT32_MAX, UID_RE


def _uid(text: str) -> str:
    if not UID_RE.match(text):
        raise argparse.ArgumentTypeError(f"device UID {text!r} must be 8 characters from 0-9A-F, e.g. D4245A98")
    return text


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"server IP {text!r} must be a dotted IPv4 address, e.g. 192.0.2.10") from None


# --------------------------------------------------------------------------- devices


def device_document(args: argparse.Namespace) -> dict[str, Any]:
    """The ``device`` document of ``devices add``: original names, int32 integers, ``flag`` a bool."""
    if args.min > args.max:
        raise ConfigError(f"--min {args.min} is above --max {args.max}")
    return {
        "device_uid": args.uid,
        "ref_interval": args.ref_interval,
        "server_ip": args.server_ip,
        "server_port": args.server_port,
        "minimum": args.min,
        "maximum": args.max,
        "initial_count": args.initial_count,
        "flag": bool(args.active),
        "status": 0,
        "error_count": 0,
    }


def devices_add(args: argparse.Namespace) -> int:
    document = device_document(args)

    async def action(store: Store) -> int:
        if args.tenant not in await store.list_tenants():
            return fail(f"tenant {args.tenant} does not exist (specgate tenants add {args.tenant})")
        existing = await store.get_device_route(args.uid)
        if existing is not None:
            return fail(f"device {args.uid} already exists (tenant {existing})")
        try:
            await store.add_device(args.tenant, document)
        except Conflict:
            return fail(f"device {args.uid} already exists in tenant {args.tenant}")
        state = "active" if document["flag"] else "inactive (add --active to let it report)"
        print(f"device {args.uid} added to tenant {args.tenant}, {state}")
        return 0

    return run_with_store(args, action)


def devices_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        tenants = [args.tenant] if args.tenant else await store.list_tenants()
        rows = []
        for tenant in tenants:
            for device in await all_pages(functools.partial(store.list_devices, tenant), "device_uid"):
                rows.append({"tenant": tenant, **device})
        columns = [
            "tenant",
            "device_uid",
            "flag",
            "ref_interval",
            "server_ip",
            "server_port",
            "last_access",
            "last_count",
        ]
        print_rows(rows, columns, args.format == "json")
        return 0

    return run_with_store(args, action)


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    devices = subparsers.add_parser("devices", help="add or list gas meter devices")
    devices.set_defaults(func=need_subcommand(devices))
    device_commands = devices.add_subparsers(metavar="ACTION")
    add = device_commands.add_parser("add", help="register a device in a tenant")
    add.add_argument("uid", type=_uid, help="8 characters from 0-9A-F")
    add.add_argument("--tenant", required=True, type=tenant_name)
    add.add_argument(
        "--ref-interval",
        required=True,
        type=int_range(1, INT32_MAX, "--ref-interval"),
        help="seconds between reports, e.g. 43200",
    )
    add.add_argument("--server-ip", required=True, type=_ipv4, help="server IPv4 the device is told to use")
    add.add_argument("--server-port", required=True, type=int_range(1, 65535, "--server-port"))
    add.add_argument("--min", type=int_range(0, 65535, "--min"), default=0, help="rotation-event minimum")
    add.add_argument("--max", type=int_range(0, 65535, "--max"), default=0, help="rotation-event maximum")
    add.add_argument("--initial-count", type=int_range(0, INT32_MAX, "--initial-count"), default=0)
    add.add_argument("--active", action="store_true", help="let the device report (flag true)")
    add_store_flags(add)
    add.set_defaults(func=devices_add)
    listing = device_commands.add_parser("list", help="list devices")
    listing.add_argument("--tenant", type=tenant_name, help="only this tenant (default: every tenant)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_store_flags(listing)
    listing.set_defaults(func=devices_list)


# --------------------------------------------------------------------------- simulate gas-meter


def register_simulator(subparsers: argparse._SubParsersAction) -> None:
    meters = subparsers.add_parser(
        "gas-meter",
        help="NB-IoT gas meters: one 256-byte report per connection, 32-byte reply expected",
        description="Each report opens a connection, sends a real 256-byte packet built with the gas_meter "
        "spec, waits for the 32-byte reply and checks that it decodes. Unregistered meters are told to stop "
        "(RC 0xC0, TS next 0xFFFFFFFF); register them first with 'specgate devices add' for normal replies.",
    )
    meters.add_argument("--host", default="127.0.0.1")
    meters.add_argument("--port", type=int, default=5004)
    meters.add_argument("--meters", type=positive_int, default=10, help="simulated meters (default 10)")
    meters.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="reports per second over all meters; 0 = as fast as replies come (default)",
    )
    amount = meters.add_mutually_exclusive_group()
    amount.add_argument("--count", type=positive_int, help="reports to send (default 100)")
    amount.add_argument("--duration", type=float, help="seconds to keep sending")
    meters.add_argument(
        "--mix", default="normal=90,event=5,init=5", help="report kinds and weights (default normal=90,event=5,init=5)"
    )
    meters.add_argument("--faults", default="", help="comma-separated faults to inject: split,garbage,truncate")
    meters.add_argument("--fault-rate", type=float, default=0.1, help="share of reports with a fault (default 0.1)")
    meters.add_argument("--uid-prefix", default="5A", help="hex prefix of the meters' 8-digit uids (default 5A)")
    meters.add_argument("--seed", type=int, default=1)
    meters.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each reply")
    meters.set_defaults(func=run_gas_meter_simulator)


def run_gas_meter_simulator(args: argparse.Namespace) -> int:
    from plugins.gas_meter.simulator import LoadPlan, parse_faults, parse_mix, run_load

    if not 0 <= args.fault_rate <= 1:
        raise ConfigError(f"--fault-rate must be between 0 and 1, got {args.fault_rate}")
    if args.rate < 0:
        raise ConfigError(f"--rate must not be negative, got {args.rate}")
    plan = LoadPlan(
        host=args.host,
        port=args.port,
        meters=args.meters,
        rate=args.rate,
        count=None if args.duration is not None else (args.count or 100),
        duration=args.duration,
        mix=parse_mix(args.mix),
        faults=parse_faults(args.faults),
        fault_rate=args.fault_rate,
        uid_prefix=args.uid_prefix,
        seed=args.seed,
        timeout=args.timeout,
    )
    summary = asyncio.run(run_load(plan)).as_dict()
    print(json.dumps(summary, indent=2))
    return 0 if summary["errors"] == 0 and summary["no_reply"] == 0 and summary["faults_replied"] == 0 else 1
