"""What the devices sent, from the command line: ``specgate exchanges list``, ``specgate dead-letters
list|show``, and ``specgate backup PATH`` (a consistent copy of the SQLite store while it runs).

Times are printed in the configured time zone; ``--since``/``--until`` take ISO 8601 (a date, or a date
and time; without an offset it is the configured zone) or epoch seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
from datetime import datetime, tzinfo
from typing import Any

import pluggy

from core.cli.common import add_store_flags, command_group, fail, print_rows, run_with_store
from core.config import load_config
from core.errors import ConfigError
from core.store import ListQuery, Store, display_url, sqlite_file
from core.timeutil import local_string


def _moment(text: str | None, tz: tzinfo, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} must be ISO 8601 (2025-03-06 or 2025-03-06T10:00) or epoch seconds") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()


def _range(args: argparse.Namespace, tz: tzinfo) -> dict[str, tuple[Any, Any]]:
    low, high = _moment(args.since, tz, "--since"), _moment(args.until, tz, "--until")
    return {"at": (low, high)} if low is not None or high is not None else {}


def _printable(entry: dict[str, Any], tz: tzinfo, *hex_fields: str) -> dict[str, Any]:
    row = dict(entry)
    for name in hex_fields:
        if isinstance(row.get(name), (bytes, bytearray)):
            row[name] = bytes(row[name]).hex()
    if isinstance(row.get("at"), (int, float)):
        row["at"] = local_string(float(row["at"]), tz)
    return row


def exchanges_list(args: argparse.Namespace) -> int:
    tz = load_config(args.config, store_url=args.store).tz
    filters = {
        key: value
        for key, value in (("device_uid", args.device), ("ip", args.ip), ("device_type", args.device_type))
        if value is not None
    }
    query = ListQuery(filters=filters, ranges=_range(args, tz), limit=args.limit)

    async def action(store: Store) -> int:
        page = await store.list_exchanges(query)
        rows = [_printable(item, tz, "recv", "send") for item in page.items]
        print_rows(rows, ["at", "ip", "port", "device_type", "device_uid", "recv_len", "send_len", "recv"], args.json)
        print(f"{len(rows)} of {page.total} exchanges", file=sys.stderr)
        return 0

    return run_with_store(args, action)


def dead_letters_list(args: argparse.Namespace) -> int:
    tz = load_config(args.config, store_url=args.store).tz
    filters = {key: value for key, value in (("device_type", args.device_type), ("ip", args.ip)) if value}
    query = ListQuery(filters=filters, ranges=_range(args, tz), limit=args.limit)

    async def action(store: Store) -> int:
        page = await store.list_dead_letters(query)
        rows = [_printable(item, tz, "data") for item in page.items]
        for row in rows:
            if not args.json and isinstance(row.get("data"), str) and len(row["data"]) > 32:
                row["data"] = row["data"][:32] + "..."
        print_rows(rows, ["id", "at", "device_type", "ip", "error", "path", "data"], args.json)
        print(f"{len(rows)} of {page.total} dead letters", file=sys.stderr)
        return 0

    return run_with_store(args, action)


def dead_letters_show(args: argparse.Namespace) -> int:
    tz = load_config(args.config, store_url=args.store).tz

    async def action(store: Store) -> int:
        entry = await store.get_dead_letter(args.id)
        if entry is None:
            return fail(f"no dead letter {args.id} (specgate dead-letters list shows their ids)")
        print(json.dumps(_printable(entry, tz, "data"), indent=2, default=str, ensure_ascii=False))
        return 0

    return run_with_store(args, action)


def backup(args: argparse.Namespace) -> int:
    """Copy the SQLite store page by page with SQLite's online backup API: the copy is consistent even
    while ``specgate serve`` writes, and writers are held up only for the moment each step takes."""
    config = load_config(args.config, store_url=args.store)
    source = sqlite_file(config.store_url)
    if source is None:
        return fail("backup copies a SQLite store; back a MongoDB store up with mongodump or a snapshot")
    if not os.path.exists(source):
        return fail(f"the store {display_url(config.store_url)} does not exist")
    if os.path.exists(args.path) and not args.force:
        return fail(f"{args.path} exists; pass --force to replace it")
    print(f"store: {display_url(config.store_url)}", file=sys.stderr)

    def copy() -> int:
        temporary = f"{args.path}.partial"
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(temporary) as dst:
            src.backup(dst, pages=1024)
            pages = dst.execute("PRAGMA page_count").fetchone()[0]
            if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise ConfigError("the copy failed its integrity check; the store file may be damaged")
        os.replace(temporary, args.path)
        return int(pages)

    pages = asyncio.run(asyncio.to_thread(copy))
    print(f"backed up {pages} pages to {args.path}")
    return 0


def _listing_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="from this time (ISO 8601 or epoch seconds)")
    parser.add_argument("--until", help="before this time")
    parser.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_store_flags(parser)


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    exchange_commands = command_group(subparsers, "exchanges", "the raw exchange log (what devices sent and got)")
    listing = exchange_commands.add_parser("list", help="list exchanges, newest first")
    listing.add_argument("--device", help="only this device uid")
    listing.add_argument("--ip", help="only this peer address")
    listing.add_argument("--device-type", help="only this device type")
    _listing_flags(listing)
    listing.set_defaults(func=exchanges_list)

    letter_commands = command_group(subparsers, "dead-letters", "frames that failed to parse, with the error path")
    listing = letter_commands.add_parser("list", help="list dead letters, newest first")
    listing.add_argument("--device-type", help="only this device type")
    listing.add_argument("--ip", help="only this peer address")
    _listing_flags(listing)
    listing.set_defaults(func=dead_letters_list)
    show = letter_commands.add_parser("show", help="one dead letter in full (its bytes as hex)")
    show.add_argument("id")
    add_store_flags(show)
    show.set_defaults(func=dead_letters_show)

    parser = subparsers.add_parser("backup", help="copy the SQLite store while it runs (online backup)")
    parser.add_argument("path", help="the file to write")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    parser.add_argument("--store", help="store URL (default: from the configuration, else sqlite:///specgate.db)")
    parser.add_argument("--config", help="YAML configuration file (default: SPECGATE_CONFIG)")
    parser.set_defaults(func=backup)
