"""What commands share, core's and the plugins': argument types, the store a command works on, tables.

A command that needs the store calls :func:`run_with_store` with an ``async`` action; the store named by
``--store`` (or the configuration) is opened around it and closed after, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from core.config import Config, load_config
from core.errors import ConfigError
from core.store import ListQuery, Page, Store, display_url, open_store, sqlite_file

if TYPE_CHECKING:
    from tqdm import tqdm

TENANT_RE = re.compile(r"^[A-Za-z0-9_]{1,63}$")
_PAGE = 1000


def tenant_name(text: str) -> str:
    """An argparse type: a tenant name (its database name)."""
    if not TENANT_RE.match(text):
        raise argparse.ArgumentTypeError(f"tenant {text!r} must be 1-63 letters, digits or _, e.g. gas_demo")
    return text


def int_range(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low} and {high}, got {value}")
        return value

    return parse


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    """``--store``, ``--config`` and ``--create``, for a command that works on the store."""
    parser.add_argument("--store", help="store URL (default: from the configuration, else sqlite:///specgate.db)")
    parser.add_argument("--config", help="YAML configuration file (default: SPECGATE_CONFIG)")
    parser.add_argument("--create", action="store_true", help="create the SQLite store file when it does not exist yet")


def load_config_for(args: argparse.Namespace) -> Config:
    """The configuration a command with :func:`add_store_flags` works with (its ``--config`` and ``--store``)."""
    return load_config(args.config, store_url=args.store)


def run_with_store(args: argparse.Namespace, action: Callable[[Store], Awaitable[int]]) -> int:
    """Run ``action`` on the store named by ``args.store``/``args.config``; returns its exit status.

    The store in use is printed first (on stderr, so JSON output stays clean), and a SQLite file that does
    not exist is refused unless ``--create`` was given: a typo or another working directory must not
    silently start an empty store."""
    config = load_config(args.config, store_url=args.store)
    path = sqlite_file(config.store_url)
    if path is not None and not os.path.exists(path) and not getattr(args, "create", False):
        raise ConfigError(
            f"the store {display_url(config.store_url)} does not exist; run from the directory that holds it, "
            "name it with --store, or pass --create to make a new one"
        )
    print(f"store: {display_url(config.store_url)}", file=sys.stderr)

    async def main() -> int:
        async with open_store(config.store_url, **config.store_options) as store:
            return await action(store)

    return asyncio.run(main())


def fail(message: str) -> int:
    """Print one ``specgate: error:`` sentence and return exit status 1."""
    print(f"specgate: error: {message}", file=sys.stderr)
    return 1


def print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """Rows as aligned text columns, or as JSON."""
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return

    def cell(row: dict[str, Any], column: str) -> str:
        value = row.get(column)
        return "" if value is None else str(value)

    widths = {c: max([len(c)] + [len(cell(r, c)) for r in rows]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(cell(row, c).ljust(widths[c]) for c in columns).rstrip())


async def all_pages(fetch: Callable[[ListQuery], Awaitable[Page]], sort: str) -> list[dict[str, Any]]:
    """Every item of a paged listing, sorted by ``sort``."""
    items: list[dict[str, Any]] = []
    while True:
        page = await fetch(ListQuery(sort=sort, limit=_PAGE, offset=len(items)))
        items.extend(page.items)
        if not page.items or len(items) >= page.total:
            return items


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """``--progress``/``--no-progress``, for a long-running command (see :func:`progress_bar`)."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: only when stderr is a terminal)",
    )


def progress_bar(args: argparse.Namespace, total: int | None, desc: str, unit: str) -> tqdm:
    """A tqdm bar on stderr, never on stdout where a command's summary goes: shown when ``--progress``
    was given, hidden with ``--no-progress``, else shown only when stderr is a terminal."""
    from tqdm import tqdm

    wanted = getattr(args, "progress", None)
    show = sys.stderr.isatty() if wanted is None else bool(wanted)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not show, dynamic_ncols=True)


def command_group(subparsers: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """A command made of actions (``specgate users add|list|...``): its parser, which prints the group's
    help when run without an action, and the subparsers its actions are added to."""
    group = subparsers.add_parser(name, help=help)
    group.set_defaults(func=need_subcommand(group))
    return group.add_subparsers(metavar="ACTION")


def need_subcommand(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The ``func`` of a command run without the action or command it needs: one sentence naming them,
    exit status 1, like every other usage error."""

    def run(args: argparse.Namespace) -> int:
        choices = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
        names = ", ".join(choices[0].choices) if choices else ""
        print(f"{parser.prog}: error: name one of {names} (see '{parser.prog} --help')", file=sys.stderr)
        return 1

    return run
