"""The gas meter's commands: ``specgate devices add|list|update|delete|import`` (registering meters before
any web UI, on either store) and ``specgate simulate gas-meter``. Device documents keep the original field
names and int32 types."""

from __future__ import annotations

import argparse
import asyncio
import functools
import ipaddress
import json
import sys
from typing import Any

from core.api import (
    ConfigError,
    Conflict,
    ListQuery,
    Store,
    add_progress_flag,
    add_store_flags,
    all_pages,
    command_group,
    fail,
    int_range,
    positive_int,
    print_rows,
    progress_bar,
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

#: the device document's settings by the ``devices add|update`` flag (its dest) that sets each
_FIELD_FLAGS = {
    "ref_interval": "ref_interval",
    "server_ip": "server_ip",
    "server_port": "server_port",
    "minimum": "min",
    "maximum": "max",
    "initial_count": "initial_count",
}


def _given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The device settings as the flags give them (None where an update leaves one out)."""
    return {field: getattr(args, dest) for field, dest in _FIELD_FLAGS.items()}


def device_document(args: argparse.Namespace) -> dict[str, Any]:
    """The ``device`` document of ``devices add``: original names, int32 integers, ``flag`` a bool."""
    if args.min > args.max:
        raise ConfigError(f"--min {args.min} is above --max {args.max}")
    return {
        "device_uid": args.uid,
        **_given_fields(args),
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


async def _tenant_of(store: Store, uid: str, given: str | None) -> str | None:
    routed = await store.get_device_route(uid)
    if routed is None or (given is not None and routed != given):
        return None
    return routed


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    fields = {**_given_fields(args), "flag": args.active}
    return {key: value for key, value in fields.items() if value is not None}


def devices_update(args: argparse.Namespace) -> int:
    changes = _changes(args)
    if not changes:
        return fail(
            "nothing to change: give at least one of --ref-interval, --server-ip, --server-port, --min, --max, --initial-count, --active/--inactive"
        )

    async def action(store: Store) -> int:
        tenant = await _tenant_of(store, args.uid, args.tenant)
        if tenant is None:
            return fail(f"device {args.uid} does not exist" + (f" in tenant {args.tenant}" if args.tenant else ""))
        device = await store.get_device(tenant, args.uid) or {}
        low, high = changes.get("minimum", device.get("minimum", 0)), changes.get("maximum", device.get("maximum", 0))
        if isinstance(low, int) and isinstance(high, int) and high and low > high:
            return fail(f"minimum {low} would be above maximum {high}")
        await store.update_device(tenant, args.uid, changes)
        print(f"device {args.uid} (tenant {tenant}) updated: {', '.join(f'{k}={v}' for k, v in changes.items())}")
        return 0

    return run_with_store(args, action)


def devices_delete(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        tenant = await _tenant_of(store, args.uid, args.tenant)
        if tenant is None:
            return fail(f"device {args.uid} does not exist" + (f" in tenant {args.tenant}" if args.tenant else ""))
        readings = await store.list_readings(tenant, ListQuery(filters={"device_uid": args.uid}, limit=1))
        if readings.total and not args.force:
            return fail(
                f"device {args.uid} has {readings.total} readings; they are kept either way, pass --force to delete the device"
            )
        await store.delete_device(tenant, args.uid)
        print(f"device {args.uid} deleted from tenant {tenant} (its readings are kept)")
        return 0

    return run_with_store(args, action)


IMPORT_COLUMNS = (
    "device_uid",
    "ref_interval",
    "server_ip",
    "server_port",
    "minimum",
    "maximum",
    "initial_count",
    "flag",
)
_OPTIONAL_TEXT = ("meter_id", "customer_no", "customer_name", "installer_id", "comment")
MAX_IMPORT_ROWS = 100_000


def import_row(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as a device document; ``ValueError`` names the first bad column."""

    def column(name: str, parse: Any, default: Any = None) -> Any:
        text = (row.get(name) or "").strip()
        if not text:
            if default is None:
                raise ValueError(f"{name} is missing")
            return default
        try:
            return parse(text)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None

    flag_text = (row.get("flag") or row.get("active") or "false").strip().lower()
    if flag_text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"flag must be true or false, got {flag_text!r}")
    document: dict[str, Any] = {
        "device_uid": column("device_uid", _uid),
        "ref_interval": column("ref_interval", int_range(1, INT32_MAX, "ref_interval")),
        "server_ip": column("server_ip", _ipv4),
        "server_port": column("server_port", int_range(1, 65535, "server_port")),
        "minimum": column("minimum", int_range(0, 65535, "minimum"), 0),
        "maximum": column("maximum", int_range(0, 65535, "maximum"), 0),
        "initial_count": column("initial_count", int_range(0, INT32_MAX, "initial_count"), 0),
        "flag": flag_text in ("true", "1", "yes"),
        "status": 0,
        "error_count": 0,
    }
    if document["maximum"] and document["minimum"] > document["maximum"]:
        raise ValueError(f"minimum {document['minimum']} is above maximum {document['maximum']}")
    for name in _OPTIONAL_TEXT:
        text = (row.get(name) or "").strip()
        if text:
            if len(text) > 128 or text.startswith("$"):
                raise ValueError(f"{name} must be at most 128 characters not starting with '$'")
            document[name] = text
    return document


def devices_import(args: argparse.Namespace) -> int:
    import csv

    try:
        with open(args.file, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return fail(f"cannot read {args.file}: {exc}")
    if len(rows) > MAX_IMPORT_ROWS:
        return fail(f"{args.file} has {len(rows)} rows; import at most {MAX_IMPORT_ROWS} at a time")
    if rows and "device_uid" not in rows[0]:
        return fail(f"{args.file} has no device_uid column; columns: {', '.join(IMPORT_COLUMNS + _OPTIONAL_TEXT)}")

    async def action(store: Store) -> int:
        if args.tenant not in await store.list_tenants():
            return fail(f"tenant {args.tenant} does not exist (specgate tenants add {args.tenant})")
        report: list[dict[str, Any]] = []
        seen: set[str] = set()
        with progress_bar(args, len(rows), "devices", "row") as bar:
            for line, row in enumerate(rows, start=2):
                uid = (row.get("device_uid") or "").strip()
                try:
                    document = import_row(row)
                    if uid in seen:
                        raise ValueError(f"device {uid} is repeated in the file")
                    seen.add(uid)
                    routed = await store.get_device_route(uid)
                    if routed is not None:
                        raise ValueError(
                            "already registered" + (" in this tenant" if routed == args.tenant else " elsewhere")
                        )
                    if not args.dry_run:
                        await store.add_device(args.tenant, document)
                except (ValueError, Conflict) as exc:
                    report.append({"line": line, "device_uid": uid, "result": "refused", "reason": str(exc)})
                else:
                    report.append({"line": line, "device_uid": uid, "result": "checked" if args.dry_run else "added"})
                bar.update()
        refused = sum(1 for entry in report if entry["result"] == "refused")
        shown = [entry for entry in report if args.all or entry["result"] == "refused"]
        if shown or args.format == "json":  # no table of nothing: the count line says it all
            print_rows(shown, ["line", "device_uid", "result", "reason"], args.format == "json")
        verb = "would be added" if args.dry_run else "added"
        print(f"{len(report) - refused} {verb}, {refused} refused, of {len(report)} rows", file=sys.stderr)
        return 1 if refused else 0

    return run_with_store(args, action)


def _device_field_flags(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--ref-interval",
        required=required,
        type=int_range(1, INT32_MAX, "--ref-interval"),
        help="seconds between reports, e.g. 43200",
    )
    parser.add_argument("--server-ip", required=required, type=_ipv4, help="server IPv4 the device is told to use")
    parser.add_argument("--server-port", required=required, type=int_range(1, 65535, "--server-port"))
    default = 0 if required else None
    parser.add_argument("--min", type=int_range(0, 65535, "--min"), default=default, help="rotation-event minimum")
    parser.add_argument("--max", type=int_range(0, 65535, "--max"), default=default, help="rotation-event maximum")
    parser.add_argument("--initial-count", type=int_range(0, INT32_MAX, "--initial-count"), default=default)


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    device_commands = command_group(subparsers, "devices", "register, list, change, delete or import gas meter devices")
    add = device_commands.add_parser("add", help="register a device in a tenant")
    add.add_argument("uid", type=_uid, help="8 characters from 0-9A-F")
    add.add_argument("--tenant", required=True, type=tenant_name)
    _device_field_flags(add, required=True)
    add.add_argument("--active", action="store_true", help="let the device report (flag true)")
    add_store_flags(add)
    add.set_defaults(func=devices_add)
    listing = device_commands.add_parser("list", help="list devices")
    listing.add_argument("--tenant", type=tenant_name, help="only this tenant (default: every tenant)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_store_flags(listing)
    listing.set_defaults(func=devices_list)
    update = device_commands.add_parser("update", help="change a device's settings")
    update.add_argument("uid", type=_uid)
    update.add_argument("--tenant", type=tenant_name, help="refuse unless the device is in this tenant")
    _device_field_flags(update, required=False)
    active = update.add_mutually_exclusive_group()
    active.add_argument("--active", action="store_const", const=True, help="let the device report (flag true)")
    active.add_argument("--inactive", dest="active", action="store_const", const=False, help="tell it to stop")
    add_store_flags(update)
    update.set_defaults(func=devices_update)
    delete = device_commands.add_parser("delete", help="delete a device and its route (its readings are kept)")
    delete.add_argument("uid", type=_uid)
    delete.add_argument("--tenant", type=tenant_name, help="refuse unless the device is in this tenant")
    delete.add_argument("--force", action="store_true", help="delete even when it has readings")
    add_store_flags(delete)
    delete.set_defaults(func=devices_delete)
    bulk = device_commands.add_parser(
        "import",
        help="register devices from a CSV file, with a per-row report",
        description=f"Columns (a header row): {', '.join(IMPORT_COLUMNS)} (minimum, maximum, initial_count and "
        f"flag optional), and optionally {', '.join(_OPTIONAL_TEXT)}. Rows already registered or invalid are "
        "refused and reported with their line; the others are added. Exit status 1 when any row was refused.",
    )
    bulk.add_argument("file", help="the CSV file")
    bulk.add_argument("--tenant", required=True, type=tenant_name)
    bulk.add_argument("--dry-run", action="store_true", help="check every row, add nothing")
    bulk.add_argument("--all", action="store_true", help="report every row, not only the refused ones")
    bulk.add_argument("--format", choices=("text", "json"), default="text")
    add_progress_flag(bulk)
    add_store_flags(bulk)
    bulk.set_defaults(func=devices_import)


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
    add_progress_flag(meters)
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
    with progress_bar(args, plan.count, "reports", "report") as bar:
        summary = asyncio.run(run_load(plan, on_report=lambda _summary: bar.update())).as_dict()
    print(json.dumps(summary, indent=2))
    if summary["told_to_stop"]:
        print(
            f"{summary['told_to_stop']} of {summary['replied']} replies told the meter to stop: register the meters "
            "(specgate devices add UID --tenant T ... --active) in the store the gateway uses",
            file=sys.stderr,
        )
    return 0 if summary["errors"] == 0 and summary["no_reply"] == 0 and summary["faults_replied"] == 0 else 1
