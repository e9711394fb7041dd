"""The plugin manager: built-ins, entry points, selection, misspelt hooks, and the documented hook contract."""
from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
from pathlib import Path

import pluggy
import pytest

from core import hookspecs
from core.cli import main
from core.plugins import describe_plugins
from core.errors import ConfigError
from core.hookspecs import hookimpl
from core.config import Config
from core.gateway.runtime import Gateway, resolve_listeners
from core.plugins import ENTRY_POINT_GROUP, get_plugin_manager
from tests.gateway.doubles import connect, read_line

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("specgate_"))


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
    assert names(pm) == ["default_plugin", "fg150kal", "gas_meter", "thirdparty"]
    described = {p["name"]: p for p in describe_plugins(pm)["plugins"]}
    assert described["thirdparty"] == {
        "name": "thirdparty",
        "hooks": [
            "specgate_build_reply", "specgate_declare_listeners", "specgate_handle_message",
            "specgate_register_routes", "specgate_register_specs",
        ],
        "specs": ["thirdparty_counter"],
        "package": "specgate-thirdparty", "version": "1.2.3",
    }
    assert described["fg150kal"]["specs"] == ["fg150kal"] and described["gas_meter"]["specs"] == ["gas_meter"]
    assert "specgate_handle_message" in described["fg150kal"]["hooks"]
    assert described["default_plugin"]["hooks"] == ["specgate_build_reply", "specgate_decode_frame"]


def test_environment_selects_and_disables(installed, monkeypatch):
    monkeypatch.setenv("SPECGATE_DISABLE_PLUGINS", "thirdparty,gas_meter")
    assert names(get_plugin_manager()) == ["default_plugin", "fg150kal"]
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


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    """Each hook is implemented or called by some test other than this contract file."""
    here = Path(__file__).resolve()
    sources = [p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != here]
    assert any(hook in p.read_text() for p in sources), f"no test exercises {hook}"
