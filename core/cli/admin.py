"""Admin commands that make a fresh install usable before any web UI, on either store backend.

``specgate tenants add NAME`` / ``tenants list`` and ``specgate users add LOGIN --tenant NAME --role ROLE
[--system-admin]`` (password prompted, or read from stdin when it is not a terminal). Device plugins add
their own device commands. Documents keep the original field names and types.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import pluggy

from core.cli.common import add_store_flags, fail, need_subcommand, run_with_store, tenant_name
from core.config import load_config
from core.errors import ConfigError, Conflict
from core.security.passwords import hash_password
from core.security.roles import ROLE_ALIASES, ROLE_LEVELS, ROLES, canonical_role
from core.store import Store
from core.timeutil import local_string

#: a login ID: what ``users add`` accepts, as the users API and self-registration do (``web/api/forms.py``)
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _login(text: str) -> str:
    if not LOGIN_RE.match(text):
        raise argparse.ArgumentTypeError(f"login {text!r} must be 1-64 letters, digits or . _ @ -")
    return text


# --------------------------------------------------------------------------- tenants


def tenants_add(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        await store.add_tenant(args.name)
        print(f"tenant {args.name} ready")
        return 0

    return run_with_store(args, action)


def tenants_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        tenants = await store.list_tenants()
        if args.format == "json":
            print(json.dumps(tenants))
        else:
            for name in tenants:
                print(name)
        return 0

    return run_with_store(args, action)


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
    password = read_password()
    config = load_config(args.config, store_url=args.store)
    now = time.time()
    role = canonical_role(args.role)
    assert role is not None  # argparse allowed only known roles
    user: dict[str, Any] = {
        "ID": args.login,
        "passwd": hash_password(password),
        "role": role,
        "level": ROLE_LEVELS[role],
        "name": args.name or args.login,
        "email": args.email or "",
        "lang": args.lang,
        "flag": True,
        "regdate": local_string(now, config.tz),
    }
    if args.system_admin:
        user["system_admin"] = True

    async def action(store: Store) -> int:
        if args.tenant not in await store.list_tenants():
            return fail(f"tenant {args.tenant} does not exist (specgate tenants add {args.tenant})")
        try:
            await store.add_user(args.tenant, user)
        except Conflict:
            return fail(f"login {args.login} already exists")
        admin = ", system administrator" if args.system_admin else ""
        print(f"user {args.login} ({role}{admin}) added to tenant {args.tenant}")
        return 0

    return run_with_store(args, action)


# --------------------------------------------------------------------------- parsers


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    tenants = subparsers.add_parser("tenants", help="add or list tenants")
    tenants.set_defaults(func=need_subcommand(tenants))
    tenant_commands = tenants.add_subparsers(metavar="ACTION")
    add = tenant_commands.add_parser("add", help="add a tenant (idempotent)")
    add.add_argument("name", type=tenant_name)
    add_store_flags(add)
    add.set_defaults(func=tenants_add)
    listing = tenant_commands.add_parser("list", help="list tenants")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_store_flags(listing)
    listing.set_defaults(func=tenants_list)

    users = subparsers.add_parser("users", help="add web users")
    users.set_defaults(func=need_subcommand(users))
    user_commands = users.add_subparsers(metavar="ACTION")
    add = user_commands.add_parser("add", help="add a user (password prompted, or read from stdin)")
    add.add_argument("login", type=_login)
    add.add_argument("--tenant", required=True, type=tenant_name)
    add.add_argument(
        "--role",
        required=True,
        choices=[*ROLES, *ROLE_ALIASES],
        help=f"the role in the tenant ({', '.join(f'{old} is {new}' for old, new in ROLE_ALIASES.items())})",
    )
    add.add_argument(
        "--system-admin",
        action="store_true",
        help="also a system administrator: manages tenants and sees every tenant's registrations",
    )
    add.add_argument("--name", help="display name (default: the login)")
    add.add_argument("--email", help="e-mail address")
    add.add_argument("--lang", default="eng", choices=("kor", "eng", "chn"))
    add_store_flags(add)
    add.set_defaults(func=users_add)
