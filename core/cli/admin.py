"""Admin commands that make a fresh install usable before any web UI, on either store backend.

``specgate tenants add NAME`` / ``tenants list``, ``specgate devices add UID ...`` / ``devices list``,
``specgate users add LOGIN --tenant NAME --role ROLE`` (password prompted, or read from stdin when it is
not a terminal). Documents keep the original field names and int32 types.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import getpass
import ipaddress
import json
import re
import sys
import time
from typing import Any, Awaitable, Callable

from core.config import load_config
from core.errors import ConfigError, Conflict
from core.store import ListQuery, Store, open_store
from core.timeutil import local_string

UID_RE = re.compile(r"^[0-9A-F]{8}$")
TENANT_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
#: roles the original system knows, with the numeric level its v3 login derives from them
ROLE_LEVELS = {"admin": 16, "operator": 8, "installer": 4, "user": 2, "guest": 1}
INT32_MAX = 2 ** 31 - 1
_PAGE = 1000


# --------------------------------------------------------------------------- argument checks

def _uid(text: str) -> str:
    if not UID_RE.match(text):
        raise argparse.ArgumentTypeError(f"device UID {text!r} must be 8 characters from 0-9A-F, e.g. D4245A98")
    return text


def _tenant(text: str) -> str:
    if not TENANT_RE.match(text):
        raise argparse.ArgumentTypeError(f"tenant {text!r} must be 1-63 letters, digits or _, e.g. gas_demo")
    return text


def _login(text: str) -> str:
    if not LOGIN_RE.match(text):
        raise argparse.ArgumentTypeError(f"login {text!r} must be 1-64 letters, digits or . _ @ -")
    return text


def _int_range(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low} and {high}, got {value}")
        return value

    return parse


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"server IP {text!r} must be a dotted IPv4 address, e.g. 192.0.2.10") from None


# --------------------------------------------------------------------------- plumbing

def _with_store(args: argparse.Namespace, action: Callable[[Store], Awaitable[int]]) -> int:
    config = load_config(args.config, store_url=args.store)

    async def main() -> int:
        store = open_store(config.store_url, **config.store_options)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(main())


def _print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, "") if r.get(c) is not None else "")) for r in rows]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c) if row.get(c) is not None else "").ljust(widths[c]) for c in columns).rstrip())


async def _all_pages(fetch: Callable[[ListQuery], Awaitable[Any]], sort: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = await fetch(ListQuery(sort=sort, limit=_PAGE, offset=len(items)))
        items.extend(page.items)
        if not page.items or len(items) >= page.total:
            return items


# --------------------------------------------------------------------------- tenants

def tenants_add(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        await store.add_tenant(args.name)
        print(f"tenant {args.name} ready")
        return 0

    return _with_store(args, action)


def tenants_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        tenants = await store.list_tenants()
        if args.format == "json":
            print(json.dumps(tenants))
        else:
            for name in tenants:
                print(name)
        return 0

    return _with_store(args, action)


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
            print(f"specgate: error: tenant {args.tenant} does not exist (specgate tenants add {args.tenant})", file=sys.stderr)
            return 1
        existing = await store.get_device_route(args.uid)
        if existing is not None:
            print(f"specgate: error: device {args.uid} already exists (tenant {existing})", file=sys.stderr)
            return 1
        try:
            await store.add_device(args.tenant, document)
        except Conflict:
            print(f"specgate: error: device {args.uid} already exists in tenant {args.tenant}", file=sys.stderr)
            return 1
        state = "active" if document["flag"] else "inactive (add --active to let it report)"
        print(f"device {args.uid} added to tenant {args.tenant}, {state}")
        return 0

    return _with_store(args, action)


def devices_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        tenants = [args.tenant] if args.tenant else await store.list_tenants()
        rows = []
        for tenant in tenants:
            for device in await _all_pages(functools.partial(store.list_devices, tenant), "device_uid"):
                rows.append({"tenant": tenant, **device})
        columns = ["tenant", "device_uid", "flag", "ref_interval", "server_ip", "server_port", "last_access", "last_count"]
        _print_rows(rows, columns, args.format == "json")
        return 0

    return _with_store(args, action)


# --------------------------------------------------------------------------- users

def read_password(stdin: Any = None, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """Prompt twice on a terminal; otherwise read the first line of stdin."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        password = prompt("Password: ")
        if password != prompt("Password again: "):
            raise ConfigError("the two passwords differ")
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise ConfigError("the password must have at least 8 characters")
    return password


def users_add(args: argparse.Namespace) -> int:
    from core.security.passwords import hash_password

    password = read_password()
    config = load_config(args.config, store_url=args.store)
    now = time.time()
    user = {
        "ID": args.login,
        "passwd": hash_password(password),
        "role": args.role,
        "level": ROLE_LEVELS[args.role],
        "name": args.name or args.login,
        "email": args.email or "",
        "lang": args.lang,
        "flag": True,
        "regdate": local_string(now, config.tz),
    }

    async def action(store: Store) -> int:
        if args.tenant not in await store.list_tenants():
            print(f"specgate: error: tenant {args.tenant} does not exist (specgate tenants add {args.tenant})", file=sys.stderr)
            return 1
        try:
            await store.add_user(args.tenant, user)
        except Conflict:
            print(f"specgate: error: login {args.login} already exists", file=sys.stderr)
            return 1
        print(f"user {args.login} ({args.role}) added to tenant {args.tenant}")
        return 0

    return _with_store(args, action)


# --------------------------------------------------------------------------- parsers

def _store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="store URL (default: from the configuration, else sqlite:///specgate.db)")
    parser.add_argument("--config", help="YAML configuration file (default: SPECGATE_CONFIG)")


def _need_subcommand(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    tenants = subparsers.add_parser("tenants", help="add or list tenants")
    tenants.set_defaults(func=_need_subcommand(tenants))
    tenant_commands = tenants.add_subparsers(metavar="ACTION")
    add = tenant_commands.add_parser("add", help="add a tenant (idempotent)")
    add.add_argument("name", type=_tenant)
    _store_flags(add)
    add.set_defaults(func=tenants_add)
    listing = tenant_commands.add_parser("list", help="list tenants")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    _store_flags(listing)
    listing.set_defaults(func=tenants_list)

    devices = subparsers.add_parser("devices", help="add or list gas meter devices")
    devices.set_defaults(func=_need_subcommand(devices))
    device_commands = devices.add_subparsers(metavar="ACTION")
    add = device_commands.add_parser("add", help="register a device in a tenant")
    add.add_argument("uid", type=_uid, help="8 characters from 0-9A-F")
    add.add_argument("--tenant", required=True, type=_tenant)
    add.add_argument("--ref-interval", required=True, type=_int_range(1, INT32_MAX, "--ref-interval"),
                     help="seconds between reports, e.g. 43200")
    add.add_argument("--server-ip", required=True, type=_ipv4, help="server IPv4 the device is told to use")
    add.add_argument("--server-port", required=True, type=_int_range(1, 65535, "--server-port"))
    add.add_argument("--min", type=_int_range(0, 65535, "--min"), default=0, help="rotation-event minimum")
    add.add_argument("--max", type=_int_range(0, 65535, "--max"), default=0, help="rotation-event maximum")
    add.add_argument("--initial-count", type=_int_range(0, INT32_MAX, "--initial-count"), default=0)
    add.add_argument("--active", action="store_true", help="let the device report (flag true)")
    _store_flags(add)
    add.set_defaults(func=devices_add)
    listing = device_commands.add_parser("list", help="list devices")
    listing.add_argument("--tenant", type=_tenant, help="only this tenant (default: every tenant)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    _store_flags(listing)
    listing.set_defaults(func=devices_list)

    users = subparsers.add_parser("users", help="add web users")
    users.set_defaults(func=_need_subcommand(users))
    user_commands = users.add_subparsers(metavar="ACTION")
    add = user_commands.add_parser("add", help="add a user (password prompted, or read from stdin)")
    add.add_argument("login", type=_login)
    add.add_argument("--tenant", required=True, type=_tenant)
    add.add_argument("--role", required=True, choices=sorted(ROLE_LEVELS))
    add.add_argument("--name", help="display name (default: the login)")
    add.add_argument("--email", help="e-mail address")
    add.add_argument("--lang", default="eng", choices=("kor", "eng", "chn"))
    _store_flags(add)
    add.set_defaults(func=users_add)
