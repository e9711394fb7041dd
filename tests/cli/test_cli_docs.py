"""Every command and subcommand of the ``specgate`` CLI has its own section in the docs, and every one of its
options is documented in that section.

A section is a Markdown heading (any level, outside fenced code) with a code span naming the full command,
e.g. ``### `specgate devices add UID` ``, and runs to the next heading of the same or a higher level (so a
command's section includes its subcommands' sections). Every ``docs/*.md`` page is searched, so a plugin's
commands may be documented on the plugin's own page. Each long option, and each positional argument by name
(its dest or metavar), must appear as a whole word in one of the command's sections.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = "specgate"

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"`([^`]+)`")


@dataclass
class Section:
    page: str
    heading: str
    level: int
    text: str  # from the heading line to the next heading of the same or a higher level


def sections(page: str, markdown: str) -> list[Section]:
    """The Markdown sections of one page (``#`` lines inside fenced code are not headings)."""
    lines = markdown.splitlines()
    headings: list[tuple[int, int, str]] = []  # (line index, level, text)
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            headings.append((index, len(match.group(1)), match.group(2)))
    found = []
    for position, (start, level, text) in enumerate(headings):
        end = next((i for i, lvl, _ in headings[position + 1 :] if lvl <= level), len(lines))
        found.append(Section(page, text, level, "\n".join(lines[start:end])))
    return found


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    choices: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            choices.update(action.choices)
    return choices


def commands_named(heading: str, root: argparse.ArgumentParser) -> list[str]:
    """The full commands a heading names: code spans that start with ``specgate`` and the subcommand words
    after it (``specgate devices add UID`` names ``specgate devices add``, not ``specgate devices``)."""
    named = []
    for span in _CODE_SPAN.findall(heading):
        words = span.split()
        if not words or words[0] != PROGRAM:
            continue
        path, parser = [PROGRAM], root
        for word in words[1:]:
            sub = _subparsers(parser).get(word)
            if sub is None:
                break
            path.append(word)
            parser = sub
        named.append(" ".join(path))
    return named


def _walk(parser: argparse.ArgumentParser, command: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(command, parser)]
    for name, sub in _subparsers(parser).items():
        found.extend(_walk(sub, f"{command} {name}"))
    return found


def documented_items(parser: argparse.ArgumentParser) -> list[tuple[str, list[str]]]:
    """(what, accepted spellings) per option: long flags, and positionals by dest or metavar."""
    items = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            longs = [o for o in action.option_strings if o.startswith("--")]
            for option in longs or action.option_strings:
                items.append((option, [option]))
        else:
            spellings = {action.dest, action.dest.upper()}
            if isinstance(action.metavar, str):
                spellings |= {part for part in action.metavar.split("|") if part.strip("-")}
            items.append((action.dest, sorted(spellings)))
    return items


def _appears(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


PARSER = build_parser()
COMMANDS = _walk(PARSER, PROGRAM)
SECTIONS = [
    section
    for path in sorted((ROOT / "docs").glob("*.md"))
    for section in sections(path.name, path.read_text(encoding="utf-8"))
]


def sections_of(command: str) -> list[Section]:
    return [section for section in SECTIONS if command in commands_named(section.heading, PARSER)]


@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_command_has_a_section_documenting_its_options(command, parser):
    own = sections_of(command)
    assert own, f"no docs/*.md heading names `{command}` (e.g. '### `{command}`')"
    text = "\n".join(section.text for section in own)
    where = ", ".join(f"{s.page}: {s.heading}" for s in own)
    for item, spellings in documented_items(parser):
        assert any(_appears(s, text) for s in spellings), (
            f"{command}: {item} is not documented in its section(s) ({where})"
        )


def test_sections_stop_at_the_next_heading_of_the_same_level_and_skip_code():
    markdown = "\n".join(
        [
            "# The `specgate` command line",
            "## `specgate devices`",
            "### `specgate devices add UID`",
            "`--tenant NAME`",
            "```",
            "# --not-a-heading",
            "```",
            "### `specgate devices list`",
            "`--format`",
            "## Elsewhere --active",
        ]
    )
    found = {s.heading: s for s in sections("x.md", markdown)}
    assert list(found) == [
        "The `specgate` command line",
        "`specgate devices`",
        "`specgate devices add UID`",
        "`specgate devices list`",
        "Elsewhere --active",
    ]
    add = found["`specgate devices add UID`"]
    assert "--tenant" in add.text and "--not-a-heading" in add.text and "--format" not in add.text
    assert "--active" not in found["`specgate devices`"].text
    assert "--active" in found["The `specgate` command line"].text
    assert commands_named(add.heading, PARSER) == ["specgate devices add"]
    assert commands_named("`specgate devices`, `specgate users add LOGIN`", PARSER) == [
        "specgate devices",
        "specgate users add",
    ]
    assert commands_named("Writing a specgate plugin", PARSER) == []
    assert not _appears("--min", "`--minimum`") and _appears("--min", "`--min N`")
