"""The ``specgate`` command line (also ``python -m core``).

Each command lives in its own module with a ``register(subparsers)`` function that adds its parser and
sets ``func`` (called with the parsed arguments, returns the exit status).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from core import __version__
from core.errors import SpecgateError

COMMAND_MODULES = (
    "core.cli.spec_commands",   # validate-spec, decode, encode, specs
    "core.cli.serve",           # serve
    "core.cli.plugins_command", # plugins
    "core.cli.admin",           # devices, tenants, users
    "core.cli.simulate",        # simulate
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specgate",
        description="A TCP gateway for field devices whose packet layouts are declarative YAML specs.",
    )
    parser.add_argument("--version", action="version", version=f"specgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except SpecgateError as exc:
        print(f"specgate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
