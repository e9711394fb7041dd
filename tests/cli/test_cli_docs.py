"""Every command and option of the ``specgate`` CLI is documented (docs/cli.md, docs/cli-spec.md, and
docs/gas-meter.md for the simulators)."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from core.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = "\n".join(
    (ROOT / "docs" / name).read_text(encoding="utf-8") for name in ("cli.md", "cli-spec.md", "gas-meter.md")
)


def _subcommands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((f"{prefix} {name}", sub))
                found.extend(_subcommands(sub, f"{prefix} {name}"))
    return found


COMMANDS = _subcommands(build_parser(), "specgate")


@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_command_and_its_options_are_documented(command, parser):
    assert command in DOCS, f"{command} has no documentation"
    for action in parser._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in DOCS or f" {option}" in DOCS, f"{command} {option} is not documented"
