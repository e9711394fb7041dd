"""The ``specgate`` command line (also ``python -m core``).

Each command lives in its own module with a ``register(subparsers)`` function that adds its parser and
sets ``func`` (called with the parsed arguments, returns the exit status). Plugins add theirs through the
``specgate_register_commands`` hook (and ``specgate_register_simulators`` under ``simulate``); the plugin
selection of the environment (``SPECGATE_PLUGINS``) decides which exist.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

import pluggy

from core import __version__
from core.cli.common import need_subcommand
from core.errors import SpecgateError
from core.plugins import get_plugin_manager

COMMAND_MODULES = (
    "core.cli.spec_commands",  # validate-spec, decode, encode, specs
    "core.cli.serve",  # serve
    "core.cli.plugins_command",  # plugins
    "core.cli.admin",  # tenants, users
    "core.cli.logs",  # exchanges, dead-letters, backup
    "core.cli.replay",  # replay
    "core.cli.simulate",  # simulate (the simulators come from the plugins)
)


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one sentence (exit status 1), like every other failure;
    the usage itself is one ``--help`` away. Subcommand parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        # the innermost command parsed sets it first (a subcommand's namespace is copied into its parent's)
        if not hasattr(parsed, "command_prog"):
            parsed.command_prog = self.prog
        return parsed, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but unknown arguments are blamed on the command they were given to, whose
        ``--help`` lists the right ones (argparse names the top-level program)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = parsed.command_prog
            self.exit(1, f"{prog}: error: unrecognized arguments: {' '.join(extras)} (see '{prog} --help')\n")
        return parsed


def build_parser(pm: pluggy.PluginManager | None = None) -> argparse.ArgumentParser:
    """The whole command line: core's commands, then every loaded plugin's."""
    pm = pm or get_plugin_manager()
    parser = CommandParser(
        prog="specgate",
        description="A TCP gateway for field devices whose packet layouts are declarative YAML specs.",
    )
    parser.add_argument("--version", action="version", version=f"specgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers, pm)
    pm.hook.specgate_register_commands(subparsers=subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except SpecgateError as exc:
        print(f"specgate: error: {exc}", file=sys.stderr)
        return 1
    parser.set_defaults(func=need_subcommand(parser))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SpecgateError as exc:
        print(f"specgate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
