"""``docs/configuration.md`` lists every setting once, as the configuration code has it.

Its "## Every setting" section holds one Markdown table per section of the file, each row: file key,
environment variable, command-line flag, default, meaning (``–`` for none). Checked against the code:

- the top-level keys are ``_TOP_KEYS``, and the keys of ``store`` and ``plugins`` are those ``_apply_file``
  allows (read from its ``check_keys`` calls); each row's default is ``Config()``'s;
- the ``web`` rows are ``WEB_SETTINGS``: the same keys, each row's variable its ``env``, its default
  ``getattr(Config(), attribute)``;
- the listener entry rows are ``device_type``, ``port``, ``options`` and ``LISTENER_FIELDS``, with the
  defaults of ``ListenerConfig``, each field settable by ``--listen``;
- the ``devices.<section>`` rows are the options the plugins declare: section, key, variable, default;
- every ``SPECGATE_*`` variable ``core/config/__init__.py`` names is in a row, and setting it changes that
  row's value; no row names a variable the code does not read;
- the flags in the rows are the flags of ``specgate serve``, and passing one changes its row's value.

Defaults are written by :func:`render`: YAML in a code span (``true``, ``8000``, ``10``,
``[127.0.0.0/8, "::1/128"]``, ``{}``), or ``none`` for an absent value. Remarks in parentheses after a
default (``none (plain HTTP)``) are left out of the comparison. A failure prints the rows as they should read.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import core.config
from core.cli import build_parser
from core.cli.serve import config_from_args
from core.config import LISTENER_FIELDS, Config, ListenerConfig, load_config
from core.config.web import WEB_SETTINGS
from core.plugins import declared_options, get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
CONFIG_SOURCE = Path(core.config.__file__).read_text(encoding="utf-8")
REFERENCE = "Every setting"
NOTHING = {"–", "-", "—", ""}
COLUMNS = ["file key", "environment variable", "flag", "default", "meaning"]

#: the ``Config`` attribute each top-level row sets (``None``: the row of the configuration file itself)
TOP_ATTRIBUTES = {
    None: "source",
    "store.url": "store_url",
    "store.options": "store_options",
    "timezone": "tz_offset",
    "plugins.enable": "plugins",
    "plugins.disable": "disable_plugins",
    "log_level": "log_level",
    "log_format": "log_format",
    "log_summary_interval": "log_summary_interval",
    "shutdown_grace": "shutdown_grace",
    "listeners": "listeners",
    "devices": "devices",
}
#: a value for each variable of a top-level row, different from the default (``None``: a file)
ENV_SAMPLES: dict[str | None, str] = {
    "store.url": "sqlite:///elsewhere.db",
    "timezone": "+01:00",
    "plugins.enable": "gas_meter",
    "plugins.disable": "gas_meter",
    "log_level": "DEBUG",
    "log_format": "json",
}
#: what follows each ``specgate serve`` flag in the check that it sets its row's value (``FILE``: a file)
FLAG_ARGUMENTS = {
    "--config": ["FILE"],
    "--store": ["sqlite:///elsewhere.db"],
    "--host": ["0.0.0.0"],
    "--web-port": ["8123"],
    "--web-max-connections": ["7"],
    "--no-web": [],
    "--ssl-certfile": ["cert.pem", "--ssl-keyfile", "key.pem"],
    "--ssl-keyfile": ["key.pem", "--ssl-certfile", "cert.pem"],
    "--no-listeners": [],
    "--log-level": ["DEBUG"],
    "--log-format": ["json"],
}


# --------------------------------------------------------------------------- rendering


def _yaml(value: Any, inside: bool) -> str:
    """``value`` as YAML flow text; ``inside`` = an item of a flow list or mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        probe, expected = (f"[{value}]", [value]) if inside else (value, value)
        try:
            plain = bool(value) and yaml.safe_load(probe) == expected
        except yaml.YAMLError:
            plain = False
        return value if plain else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(item, True) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml(k, True)}: {_yaml(v, True)}" for k, v in value.items()) + "}"
    raise TypeError(f"no rendering for {value!r}")


def render(value: Any) -> str:
    """A default as the doc writes it: ``none``, or YAML in a code span."""
    return "none" if value is None else f"`{_yaml(value, False)}`"


def render_offset(seconds: int) -> str:
    """A time zone offset as the doc writes it: `+09:00`."""
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"`{sign}{hours:02d}:{minutes:02d}`"


def stated(cell: str) -> str:
    """A default cell without its remarks in parentheses."""
    previous = None
    while previous != cell:
        previous, cell = cell, re.sub(r"\s*\([^()]*\)", "", cell)
    return " ".join(cell.split())


# --------------------------------------------------------------------------- reading the doc

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")


def headed_sections(markdown: str) -> list[tuple[int, str, list[str]]]:
    """(level, heading, lines up to the next heading of any level) outside fenced code."""
    found: list[tuple[int, str, list[str]]] = []
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2), []))
        elif found:
            found[-1][2].append(line)
    return found


def split_cells(line: str) -> list[str]:
    """The cells of one table line; a ``|`` inside a code span does not split."""
    cells, current, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    cells.append(current.strip())
    return cells


def tables(lines: list[str]) -> list[list[list[str]]]:
    """The Markdown tables in ``lines``: each a list of rows (the header first, the rule left out)."""
    found: list[list[list[str]]] = []
    previous_was_row = False
    for line in lines:
        if not line.startswith("|"):
            previous_was_row = False
            continue
        if re.fullmatch(r"\|[\s|:-]+\|", line.strip()):
            continue
        if not previous_was_row:
            found.append([])
        found[-1].append(split_cells(line))
        previous_was_row = True
    return found


def _code(cell: str) -> str | None:
    """The text of a cell holding one code span, ``None`` for ``–``."""
    if cell in NOTHING:
        return None
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"docs/configuration.md: {cell!r} should be one code span or –"
    return match.group(1)


@dataclass
class Row:
    heading: str
    key: str | None
    env: str | None
    flag: str  # the cell as written
    default: str
    meaning: str

    @property
    def flags(self) -> list[str]:
        return re.findall(r"(?<![\w-])--[a-z][a-z-]*", self.flag)

    @property
    def kind(self) -> str:
        if self.key is None:
            return "top"
        if self.key.startswith("web."):
            return "web"
        if self.key.startswith("listeners[]."):
            return "listener"
        if self.key.startswith("devices.") and self.key.count(".") >= 2:
            return "device"
        return "top"

    def should_read(self, env: str | None, default: str) -> str:
        """This row with the variable and default the code has."""
        return row_text(self.key, env, self.flag, default, self.meaning)


def row_text(key: str | None, env: str | None, flag: str, default: str, meaning: str) -> str:
    def code(text: str | None) -> str:
        return f"`{text}`" if text else "–"

    return f"| {code(key)} | {code(env)} | {flag or '–'} | {default} | {meaning} |"


def reference_rows() -> list[Row]:
    markdown = DOC.read_text(encoding="utf-8")
    sections = headed_sections(markdown)
    starts = [i for i, (level, heading, _) in enumerate(sections) if level == 2 and heading == REFERENCE]
    assert starts, f"docs/configuration.md has no '## {REFERENCE}' section"
    rows: list[Row] = []
    for level, heading, lines in sections[starts[0] + 1 :]:
        if level <= 2:
            break
        for table in tables(lines):
            header = [cell.lower() for cell in table[0]]
            assert header == COLUMNS, f"docs/configuration.md, {heading}: the columns should be {COLUMNS}"
            for cells in table[1:]:
                assert len(cells) == len(COLUMNS), (
                    f"docs/configuration.md, {heading}: {cells} should have {len(COLUMNS)} cells"
                )
                key, env, flag, default, meaning = cells
                rows.append(Row(heading, _code(key), _code(env), flag, default, meaning))
    assert rows, f"docs/configuration.md: no tables under '## {REFERENCE}'"
    return rows


ROWS = reference_rows()


def rows_of(kind: str) -> list[Row]:
    return [row for row in ROWS if row.kind == kind]


def _report(title: str, lines: list[str]) -> str:
    return f"docs/configuration.md, {title}; they should read:\n" + "\n".join(lines)


# --------------------------------------------------------------------------- the checks


def test_every_key_is_listed_once():
    seen: dict[str | None, int] = {}
    for row in ROWS:
        seen[row.key] = seen.get(row.key, 0) + 1
    twice = sorted(str(key) for key, count in seen.items() if count > 1)
    assert not twice, f"docs/configuration.md lists these keys more than once: {', '.join(twice)}"


def test_the_sections_are_the_top_level_keys():
    roots = {row.key.split(".")[0].split("[")[0] for row in ROWS if row.key}
    top = set(core.config._TOP_KEYS)
    assert roots == top, (
        f"docs/configuration.md: top-level keys not listed: {sorted(top - roots)}; "
        f"listed but not read by core/config: {sorted(roots - top)}"
    )


def _nested_keys() -> dict[str, tuple[str, ...]]:
    """The keys ``_apply_file`` allows in its nested mappings (``store``, ``plugins``), from its source."""
    found = {}
    for name, items in re.findall(r"check_keys\((\w+), \(([^)]*)\), f\"\{source\}: \w+\"\)", CONFIG_SOURCE):
        found[name] = ast.literal_eval(f"({items},)")
    assert {"store", "plugins"} <= set(found), f"check_keys calls for store and plugins not found: {found}"
    return found


def _top_default(key: str | None) -> str:
    value = getattr(Config(), TOP_ATTRIBUTES[key])
    return render_offset(value) if key == "timezone" else render(value)


def test_top_level_rows_are_the_keys_and_defaults_of_the_code():
    nested = _nested_keys()
    expected = {f"{name}.{key}" for name, keys in nested.items() for key in keys}
    expected |= {key for key in core.config._TOP_KEYS if key not in nested and key != "web"}
    listed = {row.key for row in rows_of("top") if row.key}
    missing = sorted(expected - listed)
    assert not missing, _report(
        "top-level keys missing",
        [row_text(key, None, "–", _top_default(key) if key in TOP_ATTRIBUTES else "…", "…") for key in missing],
    )
    assert not listed - expected, f"docs/configuration.md lists keys the code does not read: {listed - expected}"
    unmapped = [row.key for row in rows_of("top") if row.key not in TOP_ATTRIBUTES]
    assert not unmapped, f"tests/test_configuration_doc.py: name the Config attribute of {unmapped} in TOP_ATTRIBUTES"
    wrong = [
        row.should_read(row.env, _top_default(row.key))
        for row in rows_of("top")
        if stated(row.default) != _top_default(row.key)
    ]
    assert not wrong, _report("top-level defaults that differ from Config()", wrong)


def test_web_rows_are_web_settings():
    settings = {f"web.{setting.key}": setting for setting in WEB_SETTINGS}
    rows = {row.key: row for row in rows_of("web")}
    missing = [
        row_text(key, s.env, "–", render(getattr(Config(), s.attribute)), s.help)
        for key, s in settings.items()
        if key not in rows
    ]
    assert not missing, _report("web keys of WEB_SETTINGS missing", missing)
    extra = sorted(set(rows) - set(settings))
    assert not extra, f"docs/configuration.md lists web keys that WEB_SETTINGS does not have: {extra}"
    wrong = []
    for key, setting in settings.items():
        row, default = rows[key], render(getattr(Config(), setting.attribute))
        if row.env != setting.env or stated(row.default) != default:
            wrong.append(row.should_read(setting.env, default))
    assert not wrong, _report("web rows that differ from WEB_SETTINGS and Config()", wrong)


def test_listener_rows_are_the_fields_of_a_listener_config():
    plain = ListenerConfig(device_type="any", port=0)
    fields = ("device_type", "port", "options", *LISTENER_FIELDS)
    rows = {row.key: row for row in rows_of("listener")}
    expected = {
        f"listeners[].{name}": "required" if name in ("device_type", "port") else render(getattr(plain, name))
        for name in fields
    }
    missing = [
        row_text(key, None, f"`--listen TYPE:PORT:{key.split('.')[-1]}=…`", default, "…")
        for key, default in expected.items()
        if key not in rows
    ]
    assert not missing, _report("listener entry fields missing", missing)
    extra = sorted(set(rows) - set(expected))
    assert not extra, f"docs/configuration.md lists listener keys that ListenerConfig does not have: {extra}"
    wrong = [
        rows[key].should_read(None, default)
        for key, default in expected.items()
        if rows[key].env is not None or stated(rows[key].default) != default
    ]
    assert not wrong, _report("listener entry rows that differ from ListenerConfig", wrong)
    unflagged = [key for key in rows if "--listen" not in rows[key].flags]
    assert not unflagged, f"docs/configuration.md: the flag of {unflagged} is --listen"
    for name in LISTENER_FIELDS:
        assert f"{name}=" in rows[f"listeners[].{name}"].flag, f"the flag of listeners[].{name} is --listen …:{name}=…"


def test_device_rows_are_the_declared_options():
    declared = {f"devices.{o.section}.{o.key}": o for o in declared_options(get_plugin_manager())}
    assert declared, "no plugin declares a device option"
    rows = {row.key: row for row in rows_of("device")}
    missing = [
        row_text(key, o.env, "–", render(o.default), o.help) + f"   (under ### `devices.{o.section}`)"
        for key, o in declared.items()
        if key not in rows
    ]
    assert not missing, _report("declared device options missing", missing)
    extra = sorted(set(rows) - set(declared))
    assert not extra, f"docs/configuration.md lists device options no plugin declares: {extra}"
    wrong = []
    for key, option in declared.items():
        row = rows[key]
        if row.env != option.env or stated(row.default) != render(option.default):
            wrong.append(row.should_read(option.env, render(option.default)))
        assert f"`devices.{option.section}`" in row.heading, f"{key} belongs under ### `devices.{option.section}`"
    assert not wrong, _report("device option rows that differ from the declared options", wrong)


def test_every_environment_variable_is_listed_and_sets_its_row(tmp_path):
    read = set(re.findall(r"\"(SPECGATE_[A-Z_]+)\"", CONFIG_SOURCE))
    assert "SPECGATE_STORE" in read, "the regex no longer finds the variables of core/config/__init__.py"
    listed = {row.env for row in ROWS if row.env}
    missing = sorted(read - listed)
    assert not missing, f"docs/configuration.md: variables read by core/config but not listed: {missing}"
    known = read | {s.env for s in WEB_SETTINGS if s.env} | {o.env for o in declared_options(get_plugin_manager())}
    invented = sorted(listed - {env for env in known if env})
    assert not invented, f"docs/configuration.md lists variables the code does not read: {invented}"
    config_file = tmp_path / "site.yaml"
    config_file.write_text("shutdown_grace: 3\n", encoding="utf-8")
    for row in rows_of("top"):
        if row.env is None:
            continue
        sample = str(config_file) if row.key is None else ENV_SAMPLES.get(row.key)
        assert sample is not None, f"tests/test_configuration_doc.py: give ENV_SAMPLES a value for {row.key}"
        attribute = TOP_ATTRIBUTES[row.key]
        value = getattr(load_config(env={row.env: sample}, options=[]), attribute)
        assert value != getattr(Config(), attribute), f"{row.env}={sample} does not set {row.key or 'the file'}"


def _serve_parser() -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction) and "serve" in action.choices:
            return action.choices["serve"]
    raise AssertionError("specgate has no serve command")


def test_the_flags_are_those_of_serve_and_set_their_row(tmp_path, monkeypatch):
    parser = _serve_parser()
    flags = {
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
        if option.startswith("--")
    }
    listed = {flag for row in ROWS for flag in row.flags}
    assert flags - listed == set(), f"docs/configuration.md: serve flags not listed: {sorted(flags - listed)}"
    assert listed - flags == set(), f"docs/configuration.md lists flags serve does not take: {sorted(listed - flags)}"
    for name in [name for name in os.environ if name.startswith(("SPECGATE_", "SCALE_GATEWAY_"))]:
        monkeypatch.delenv(name)
    config_file = tmp_path / "site.yaml"
    config_file.write_text("shutdown_grace: 3\n", encoding="utf-8")
    attributes = {**{f"web.{s.key}": s.attribute for s in WEB_SETTINGS}, **TOP_ATTRIBUTES}
    for row in ROWS:
        if row.kind not in ("top", "web"):
            continue
        for flag in row.flags:
            assert flag in FLAG_ARGUMENTS, f"tests/test_configuration_doc.py: give FLAG_ARGUMENTS the values of {flag}"
            values = [str(config_file) if value == "FILE" else value for value in FLAG_ARGUMENTS[flag]]
            config = config_from_args(parser.parse_args([flag, *values]))
            attribute = attributes[row.key]
            assert getattr(config, attribute) != getattr(Config(), attribute), (
                f"{flag} {' '.join(values)} does not set {row.key or 'the file'}"
            )


def test_the_builtin_listeners_table_is_what_the_plugins_declare():
    """The table in "### Listener entries": the port of each built-in plugin's listener, and every field in
    which one of them differs from ``ListenerConfig``'s default."""
    hook = get_plugin_manager().hook.specgate_declare_listeners
    declared = {listener.device_type: listener for result in hook(config=load_config(env={})) for listener in result}
    sections = headed_sections(DOC.read_text(encoding="utf-8"))
    entries = [lines for level, heading, lines in sections if level == 3 and heading == "Listener entries"]
    assert entries, "docs/configuration.md has no '### Listener entries' section"
    found = [table for table in tables(entries[0]) if table[0][0] == "field"]
    assert found, "docs/configuration.md, Listener entries: no table of the built-in plugins' listeners"
    header, *body = found[0]
    written = {_code(cells[0]): dict(zip(map(_code, header[1:]), cells[1:], strict=False)) for cells in body}
    types = [t for t in map(_code, header[1:]) if t in declared] + [t for t in declared if f"`{t}`" not in header]
    names = ["port"] + [
        name
        for name in ("options", *LISTENER_FIELDS)
        if any(getattr(listener, name) != getattr(ListenerConfig(t, 0), name) for t, listener in declared.items())
    ]
    expected = {name: {t: render(getattr(declared[t], name)) for t in types} for name in names}
    lines = ["| field | " + " | ".join(f"`{t}`" for t in types) + " |", "|---" * (len(types) + 1) + "|"]
    lines += [f"| `{name}` | " + " | ".join(expected[name].values()) + " |" for name in names]
    assert written == expected, _report("the table of the built-in plugins' listeners", lines)


def test_the_renderer_writes_yaml_that_reads_back():
    values = [getattr(Config(), s.attribute) for s in WEB_SETTINGS] + [
        o.default for o in declared_options(get_plugin_manager())
    ]
    values += [["::1/128", "10.0.0.0/8"], {"scale_id": "default"}, "10", "", "true", 0.25]
    for value in values:
        if value is not None:
            assert yaml.safe_load(render(value).strip("`")) == value, render(value)
    assert render_offset(32400) == "`+09:00`" and render_offset(-16200) == "`-04:30`"
    assert stated("none (read as `false`)") == "none" and stated("`10` (32400 s)") == "`10`"


def test_cells_split_outside_code_spans():
    assert split_cells("| `a` | `b|c` | d |") == ["`a`", "`b|c`", "d"]
