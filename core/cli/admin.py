"""Admin commands that make a fresh install usable before any web UI, on either store backend.

``specgate tenants add|list|delete`` and ``specgate users add|list|update|disable|enable`` (passwords
prompted, or read from stdin when it is not a terminal). Device plugins add
their own device commands. Documents keep the original field names and types.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pluggy

from core.cli.common import add_store_flags, all_pages, command_group, fail, print_rows, run_with_store, tenant_name
from core.config import load_config
from core.errors import ConfigError, Conflict
from core.security.accounts import LOGIN_RE, public_user
from core.security.passwords import hash_password
from core.security.roles import ROLE_ALIASES, ROLE_LEVELS, ROLES, canonical_role
from core.store import ListQuery, Store
from core.timeutil import local_string

#: a login ID: what ``users add`` accepts, as the users API and self-registration do (``web/api/forms.py``)


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


def tenants_delete(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        if args.name not in await store.list_tenants():
            return fail(f"tenant {args.name} does not exist")
        held = {
            "devices": (await store.list_devices(args.name, ListQuery(limit=1))).total,
            "users": (await store.list_users(args.name, ListQuery(limit=1))).total,
            "subscribers": (await store.list_subscribers(args.name, ListQuery(limit=1))).total,
            "readings": (await store.list_readings(args.name, ListQuery(limit=1))).total,
        }
        if any(held.values()) and not args.force:
            what = ", ".join(f"{count} {name}" for name, count in held.items() if count)
            return fail(f"tenant {args.name} holds {what}; pass --force to delete it with everything it holds")
        removed = await store.delete_tenant(args.name)
        what = ", ".join(f"{count} {name}" for name, count in removed.items())
        print(f"tenant {args.name} deleted ({what}); its sessions and API tokens were ended")
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


USER_COLUMNS = ["tenant", "ID", "name", "email", "role", "system_admin", "flag", "lang", "regdate"]


def users_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> int:
        tenants = [args.tenant] if args.tenant else await store.list_tenants()
        rows = []
        for tenant in tenants:
            for user in await all_pages(functools.partial(store.list_users, tenant), "ID"):
                rows.append({"tenant": tenant, **public_user(user)})
        print_rows(rows, USER_COLUMNS, args.format == "json")
        return 0

    return run_with_store(args, action)


async def _found_user(store: Store, login: str) -> tuple[str, dict[str, Any]] | None:
    found = await store.find_user(login)
    if found is None:
        fail(f"user {login} does not exist (specgate users list shows them)")
    return found


def users_update(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {}
    if args.role:
        role = canonical_role(args.role)
        assert role is not None
        fields.update(role=role, level=ROLE_LEVELS[role])
    for key in ("name", "email", "lang"):
        if getattr(args, key) is not None:
            fields[key] = getattr(args, key)
    if args.system_admin is not None:
        fields["system_admin"] = args.system_admin
    if args.password:
        fields["passwd"] = hash_password(read_password())
    if not fields:
        return fail(
            "nothing to change: give --role, --name, --email, --lang, --system-admin/--no-system-admin or --password"
        )

    async def action(store: Store) -> int:
        found = await _found_user(store, args.login)
        if found is None:
            return 1
        tenant, _ = found
        await store.update_user(tenant, args.login, fields)
        ended = ""
        if {"role", "passwd", "system_admin"} & set(fields):
            ended = f"; {await store.revoke_user_sessions(args.login)} session(s) ended"
        shown = ", ".join(f"{key}={value}" for key, value in fields.items() if key not in ("passwd", "level"))
        print(f"user {args.login} (tenant {tenant}) updated: {shown or 'password'}{ended}")
        return 0

    return run_with_store(args, action)


def users_set_flag(flag: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def action(store: Store) -> int:
            found = await _found_user(store, args.login)
            if found is None:
                return 1
            tenant, _ = found
            await store.update_user(tenant, args.login, {"flag": flag})
            if flag:
                print(f"user {args.login} (tenant {tenant}) enabled")
            else:
                ended = await store.revoke_user_sessions(args.login)
                print(f"user {args.login} (tenant {tenant}) disabled; {ended} session(s) ended")
            return 0

        return run_with_store(args, action)

    return run


# --------------------------------------------------------------------------- parsers


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    tenant_commands = command_group(subparsers, "tenants", "add, list or delete tenants")
    add = tenant_commands.add_parser("add", help="add a tenant (idempotent)")
    add.add_argument("name", type=tenant_name)
    add_store_flags(add)
    add.set_defaults(func=tenants_add)
    listing = tenant_commands.add_parser("list", help="list tenants")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_store_flags(listing)
    listing.set_defaults(func=tenants_list)
    delete = tenant_commands.add_parser("delete", help="delete a tenant (refused while it holds data, unless --force)")
    delete.add_argument("name", type=tenant_name)
    delete.add_argument("--force", action="store_true", help="delete it with its devices, users and readings")
    add_store_flags(delete)
    delete.set_defaults(func=tenants_delete)

    user_commands = command_group(subparsers, "users", "add, list, change, disable or enable web users")
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
    listing = user_commands.add_parser("list", help="list users (never their password hashes)")
    listing.add_argument("--tenant", type=tenant_name, help="only this tenant (default: every tenant)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_store_flags(listing)
    listing.set_defaults(func=users_list)
    update = user_commands.add_parser("update", help="change a user; a new role or password ends its sessions")
    update.add_argument("login", type=_login)
    update.add_argument("--role", choices=[*ROLES, *ROLE_ALIASES])
    update.add_argument("--name")
    update.add_argument("--email")
    update.add_argument("--lang", choices=("kor", "eng", "chn"))
    admin = update.add_mutually_exclusive_group()
    admin.add_argument("--system-admin", dest="system_admin", action="store_const", const=True)
    admin.add_argument("--no-system-admin", dest="system_admin", action="store_const", const=False)
    update.add_argument("--password", action="store_true", help="set a new password (prompted, or from stdin)")
    add_store_flags(update)
    update.set_defaults(func=users_update)
    for name, flag, text in (
        ("disable", False, "disable a user: it cannot log in, and its sessions end at once"),
        ("enable", True, "let a disabled user log in again"),
    ):
        command = user_commands.add_parser(name, help=text)
        command.add_argument("login", type=_login)
        add_store_flags(command)
        command.set_defaults(func=users_set_flag(flag))
