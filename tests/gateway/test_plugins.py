"""The plugin manager: built-ins, entry points, selection, misspelt hooks, and the documented hook contract."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import json
import re
from pathlib import Path

import pluggy
import pytest

from core import hookspecs
from core.cli import main
from core.config import Config
from core.errors import ConfigError
from core.gateway.runtime import Gateway, resolve_listeners
from core.hookspecs import hookimpl
from core.plugins import ENTRY_POINT_GROUP, describe_plugins, get_plugin_manager
from tests.gateway.doubles import connect, read_line

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("specgate_"))
#: specgate's own device plugins, as its installed metadata declares them (pyproject's entry points)
BUILT_INS = sorted(
    e.name for e in importlib.metadata.distribution("specgate").entry_points if e.group == ENTRY_POINT_GROUP
)


_REAL_DISTRIBUTIONS = importlib.metadata.distributions


def with_installed(*fakes):
    """``importlib.metadata.distributions`` with ``fakes`` installed beside the real ones (specgate itself
    among them, which brings the built-in plugins)."""
    return lambda: [*_REAL_DISTRIBUTIONS(), *fakes]


class FakeDistribution:
    """Just what pluggy reads from an installed distribution."""

    def __init__(self, name: str, module: str) -> None:
        self.metadata = {"name": "specgate-" + name}
        self.version = "1.2.3"
        self.entry_points = [importlib.metadata.EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP)]


@pytest.fixture
def installed(monkeypatch):
    """Pretend ``specgate-thirdparty`` (entry point ``thirdparty``) is installed."""
    fake = FakeDistribution("thirdparty", "tests.gateway.thirdparty_plugin")
    monkeypatch.setattr(importlib.metadata, "distributions", with_installed(fake))
    monkeypatch.delenv("SPECGATE_PLUGINS", raising=False)
    monkeypatch.delenv("SPECGATE_DISABLE_PLUGINS", raising=False)
    return fake


def names(pm: pluggy.PluginManager) -> list[str]:
    return [name for name, _ in pm.list_name_plugin()]


def test_built_ins_then_entry_points(installed):
    pm = get_plugin_manager()
    assert {"fg150kal", "gas_meter"} <= set(BUILT_INS)
    assert names(pm) == ["default_plugin", *BUILT_INS, "thirdparty"]
    described = {p["name"]: p for p in describe_plugins(pm)["plugins"]}
    assert described["thirdparty"] == {
        "name": "thirdparty",
        "hooks": [
            "specgate_build_reply",
            "specgate_declare_listeners",
            "specgate_declare_options",
            "specgate_handle_message",
            "specgate_register_commands",
            "specgate_register_routes",
            "specgate_register_simulators",
            "specgate_register_specs",
        ],
        "specs": ["thirdparty_counter"],
        "package": "specgate-thirdparty",
        "version": "1.2.3",
        "options": [
            {
                "name": "devices.thirdparty_counter.greeting",
                "env": None,
                "default": "hello",
                "help": "what the hello route says",
            },
            {
                "name": "devices.thirdparty_counter.port",
                "env": "COUNTER_PORT",
                "default": 0,
                "help": "the counter listener's port",
            },
        ],
    }
    assert described["fg150kal"]["specs"] == ["fg150kal"] and described["gas_meter"]["specs"] == ["gas_meter"]
    assert "specgate_handle_message" in described["fg150kal"]["hooks"]
    assert described["default_plugin"]["hooks"] == ["specgate_build_reply", "specgate_decode_frame"]


def test_environment_selects_and_disables(installed, monkeypatch):
    monkeypatch.setenv("SPECGATE_DISABLE_PLUGINS", "thirdparty,gas_meter")
    assert names(get_plugin_manager()) == ["default_plugin", *(n for n in BUILT_INS if n != "gas_meter")]
    monkeypatch.delenv("SPECGATE_DISABLE_PLUGINS")
    monkeypatch.setenv("SPECGATE_PLUGINS", "thirdparty")
    assert names(get_plugin_manager()) == ["default_plugin", "thirdparty"]
    monkeypatch.setenv("SPECGATE_PLUGINS", "thirdparty,scales")
    with pytest.raises(ConfigError, match="unknown plugin name"):
        get_plugin_manager()


def test_a_registered_plugin_overrides_a_built_in_hook():
    class LouderDecoder:
        @hookimpl(tryfirst=True)
        def specgate_build_reply(self, session, outcome):
            return b"override"

    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(LouderDecoder(), name="louder")
    assert pm.hook.specgate_build_reply(session=None, outcome=None) == b"override"


def test_a_misspelt_hook_fails_loudly(monkeypatch):
    module = type(inspect)("misspelt_plugin")

    @hookimpl
    def specgate_handle_mesage(session, message):
        return None

    module.specgate_handle_mesage = specgate_handle_mesage
    fake = FakeDistribution("misspelt", "misspelt_plugin")
    monkeypatch.setitem(__import__("sys").modules, "misspelt_plugin", module)
    monkeypatch.setattr(importlib.metadata, "distributions", with_installed(fake))
    with pytest.raises(pluggy.PluginValidationError, match="specgate_handle_mesage"):
        get_plugin_manager(enabled=None, disabled=[])


def test_plugins_command_prints_what_describe_plugins_returns(installed, capsys):
    assert main(["plugins", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == describe_plugins(get_plugin_manager())
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "thirdparty  (specgate-thirdparty 1.2.3)" in text and "specs: fg150kal" in text
    assert "option devices.gas_meter.default_ref_interval (default 43200): seconds between reports" in text
    assert "option devices.fg150kal.listen_port (default 4001, SCALE_GATEWAY_LISTEN_PORT)" in text


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    function = getattr(hookspecs, hook)
    doc = inspect.getdoc(function) or ""
    assert doc, f"{hook} has no docstring"
    for parameter in inspect.signature(function).parameters:
        assert f":param {parameter}:" in doc, f"{hook} does not document {parameter}"
    if getattr(function, "specgate_spec", {}).get("firstresult"):
        assert "Stops at first non-None result." in doc
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### `{hook}\(", guide, re.MULTILINE), f"docs/plugins.md has no section for {hook}"


async def test_an_installed_plugin_brings_a_whole_device_type(installed, store):
    """Spec, listener, handling and reply framing all come from the entry-point plugin."""
    pm = get_plugin_manager()
    config = Config(listeners=None)
    listeners = resolve_listeners(config, pm)
    counter = [entry for entry in listeners if entry.device_type == "thirdparty_counter"]
    assert len(counter) == 1
    async with Gateway(config, store, pm, listeners=counter) as gateway:
        reader, writer = await connect(gateway.port("thirdparty_counter"))
        writer.write(b"TICK,41\r\nnoise\nTI")
        assert await read_line(reader) == b"ACK,41\r\n"
        writer.write(b"CK,42\n")
        assert await read_line(reader) == b"ACK,42\r\n"
        writer.close()
        counters = gateway.metrics()["listeners"][0]
        assert (counters["frames_ok"], counters["frames_bad"]) == (2, 1)


async def test_an_installed_plugin_brings_options_commands_simulators_and_routes(installed, store, capsys, tmp_path):
    """Everything a device type needs beyond its sessions comes through hooks too: core is not touched."""
    from core.cli import build_parser
    from core.config import load_config
    from web.app import create_app

    config = load_config(env={"COUNTER_PORT": "6123"})
    assert config.device_options("thirdparty_counter") == {"greeting": "hello", "port": 6123}
    counter = [
        entry for entry in resolve_listeners(config, get_plugin_manager()) if entry.device_type == "thirdparty_counter"
    ]
    assert [entry.port for entry in counter] == [6123]
    with pytest.raises(ConfigError, match=r"COUNTER_PORT .*must be between 0 and 65535"):
        load_config(env={"COUNTER_PORT": "99999"})
    misspelt = tmp_path / "specgate.yaml"
    misspelt.write_text("devices: {thirdparty_counter: {colour: red}}\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) colour in devices.thirdparty_counter"):
        load_config(str(misspelt), env={})

    assert main(["counter", "--upto", "5"]) == 0
    assert capsys.readouterr().out == "counting to 5\n"
    assert main(["simulate", "counter"]) == 0
    assert capsys.readouterr().out == "ticking\n"
    assert "counter" in build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]

    import httpx

    greeting_config = load_config(env={})
    greeting_config.devices["thirdparty_counter"]["greeting"] = "hi"
    app = create_app(greeting_config, store, get_plugin_manager())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as web:
        assert (await web.get("/thirdparty/hello")).text == "hi from a plugin"


def _hook_calls(tree: ast.AST) -> dict[str, list[set[str]]]:
    """``{hook name: [keyword names of each call]}`` for the calls through a plugin manager in ``tree``:
    ``<expr>.hook.<name>(...)``, ``<expr>.hook.<name>.call_historic(...)``/``.call_extra(...)`` and
    ``<expr>.subset_hook_caller("<name>", ...)(...)``. Comments, strings and docstrings are no calls."""
    calls: dict[str, list[set[str]]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, name = node.func, None
        keywords = {k.arg for k in node.keywords if k.arg is not None}
        if isinstance(func, ast.Attribute) and func.attr in ("call_historic", "call_extra"):
            if (
                isinstance(func.value, ast.Attribute)
                and isinstance(func.value.value, ast.Attribute)
                and func.value.value.attr == "hook"
            ):
                name = func.value.attr
                keywords = set()
                # call_historic(kwargs={...}) / call_extra(methods, {...}): the keys of a literal dict
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    if isinstance(arg, ast.Dict):
                        keywords |= {k.value for k in arg.keys if isinstance(k, ast.Constant)}
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) and func.value.attr == "hook":
            name = func.attr
        elif (
            isinstance(func, ast.Call)
            and isinstance(func.func, ast.Attribute)
            and func.func.attr == "subset_hook_caller"
            and func.args
            and isinstance(func.args[0], ast.Constant)
            and isinstance(func.args[0].value, str)
        ):
            name = func.args[0].value
        if name is not None:
            calls.setdefault(name, []).append(keywords)
    return calls


def _test_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The ``test_*`` functions of a module, at its top level or in its ``Test*`` classes."""
    found = []
    for node in tree.body:
        bodies = [node]
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            bodies = node.body
        found.extend(
            item
            for item in bodies
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test_")
        )
    return found


def _calls_in_tests() -> dict[str, list[tuple[str, set[str]]]]:
    """``{hook name: [(test id, keyword names)]}`` over every test module (nested functions included)."""
    found: dict[str, list[tuple[str, set[str]]]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for function in _test_functions(tree):
            test_id = f"{path.relative_to(ROOT).as_posix()}::{function.name}"
            for name, keyword_sets in _hook_calls(function).items():
                found.setdefault(name, []).extend((test_id, keywords) for keywords in keyword_sets)
    return found


HOOK_SPECS = sorted(name for name in HOOKS if hasattr(getattr(hookspecs, name), "specgate_spec"))


def test_the_hook_list_is_every_hookspec():
    assert HOOK_SPECS == HOOKS and len(HOOKS) >= 8


@pytest.mark.parametrize("hook", HOOK_SPECS)
def test_every_hook_is_called_by_a_test(hook):
    """Each hookspec documents its parameters, and some test function calls it through a plugin manager
    (``pm.hook.<hook>(...)``) passing all of them."""
    function = getattr(hookspecs, hook)
    parameters = list(inspect.signature(function).parameters)
    doc = inspect.getdoc(function) or ""
    undocumented = [p for p in parameters if not re.search(rf"^:param {p}:", doc, re.MULTILINE)]
    assert not undocumented, f"{hook}'s docstring has no ':param ...:' line for {', '.join(undocumented)}"
    calls = _calls_in_tests().get(hook, [])
    assert calls, f"no test function calls {hook} through a plugin manager (pm.hook.{hook}(...))"
    complete = [test_id for test_id, keywords in calls if set(parameters) <= keywords]
    assert complete, f"every test call of {hook} leaves out some of its parameters {parameters}: {calls}"


def test_the_hook_call_finder_ignores_names_outside_calls():
    source = '''
def test_mentions():
    """pm.hook.specgate_register_routes(config=None)"""
    # pm.hook.specgate_register_specs()
    text = "pm.hook.specgate_build_reply(session=None, outcome=None)"
    getattr(pm.hook, "specgate_decode_frame")(session=None, frame=b"")
    reference = pm.hook.specgate_connection_opened

def test_calls():
    def nested():
        return pm.hook.specgate_handle_message(session=1, message=2)
    pm.hook.specgate_declare_listeners.call_historic(kwargs={"config": None})
    pm.subset_hook_caller("specgate_connection_closed", remove_plugins=[])(session=1, reason="done")
'''
    tree = ast.parse(source)
    mentions, calls = _test_functions(tree)
    assert _hook_calls(mentions) == {}
    assert _hook_calls(calls) == {
        "specgate_handle_message": [{"session", "message"}],
        "specgate_declare_listeners": [{"config"}],
        "specgate_connection_closed": [{"session", "reason"}],
    }
