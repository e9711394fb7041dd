"""Session hooks go to the device type's own plugins; listener configurations check themselves; a later
plugin's spec of the same name wins in ``serve`` and in ``specgate decode`` alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.api import ListenerConfig, Outcome, hookimpl
from core.cli import main
from core.config import Config
from core.errors import ConfigError
from core.gateway.device_hooks import DeviceHooks
from core.gateway.runtime import Gateway
from core.plugins import device_owners, get_plugin_manager, load_specs
from tests.gateway.doubles import connect, plugin_manager_with, read_line

ROOT = Path(__file__).resolve().parents[2]

LINE_SPEC = """\
meta: {{name: {name}, title: "a word per line"}}
framing:
  lines: {{terminator: "0a", max_length: 32}}
messages:
  line:
    direction: uplink
    text:
      regex: '(?P<word>[a-z]+)'
      template: "{{word}}"
      fields:
        - {{name: word, group: word, type: str}}
  reply:
    direction: downlink
    text:
      regex: '(?P<word>[a-z-]+)'
      template: "{{word}}"
      fields:
        - {{name: word, group: word, type: str}}
"""


class LineDevice:
    """A device plugin with its own spec, whose handler is ``async def`` and has no device-type guard."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.path = folder / f"{name}.yaml"
        self.path.write_text(LINE_SPEC.format(name=name))
        self.opened: list[str] = []

    @hookimpl
    def specgate_register_specs(self):
        return [self.path]

    @hookimpl
    def specgate_connection_opened(self, session):
        self.opened.append(session.device_type)

    @hookimpl
    def specgate_build_reply(self, session, outcome):
        return session.spec.encode(outcome.reply_message, outcome.reply) + b"\n"

    @hookimpl
    async def specgate_handle_message(self, session, message):
        return Outcome(reply_message="reply", reply={"word": f"{self.name}-{message.values['word']}"})


@pytest.fixture
def two_devices(tmp_path):
    first, second = LineDevice("alpha", tmp_path), LineDevice("beta", tmp_path)
    return plugin_manager_with(alpha=first, beta=second), first, second


async def test_each_device_plugin_sees_only_its_own_sessions(two_devices, store):
    pm, alpha, beta = two_devices
    listeners = [
        ListenerConfig("alpha", 0, "127.0.0.1", on_bad_frame="skip"),
        ListenerConfig("beta", 0, "127.0.0.1", on_bad_frame="skip"),
    ]
    async with Gateway(Config(), store, pm, listeners=listeners) as gateway:
        for device_type in ("alpha", "beta", "alpha"):
            reader, writer = await connect(gateway.port(device_type))
            writer.write(b"hello\n")
            assert await read_line(reader) == f"{device_type}-hello\n".encode()
            writer.close()
    assert alpha.opened == ["alpha", "alpha"] and beta.opened == ["beta"]


def test_device_hooks_leave_out_other_device_types_but_keep_cross_cutting_plugins(two_devices):
    pm, alpha, beta = two_devices

    class Observer:  # registers no spec: sees every device type
        @hookimpl
        def specgate_connection_opened(self, session):
            return None

    observer = Observer()
    pm.register(observer, name="observer")
    assert device_owners(pm) == {"alpha": [alpha], "beta": [beta]}
    plugins = {impl.plugin for impl in DeviceHooks(pm, "alpha").hook.specgate_connection_opened.get_hookimpls()}
    assert plugins == {alpha, observer}
    unknown = {impl.plugin for impl in DeviceHooks(pm, "gamma").hook.specgate_handle_message.get_hookimpls()}
    assert unknown == set()


def test_session_hooks_answer_as_pluggy_does_and_see_later_plugins(two_devices):
    """The direct calls give what pluggy gives: the first non-None result in pluggy's order (tryfirst,
    then the last registered) or the list of them; a plugin registered afterwards takes part at once, and
    a wrapper gets the call through pluggy."""
    pm, alpha, _beta = two_devices
    hooks = DeviceHooks(pm, "alpha")
    calls = []

    class Late:
        @hookimpl
        def specgate_build_reply(self, session, outcome):
            calls.append("late")
            return None  # the next implementation answers

        @hookimpl(tryfirst=True)
        def specgate_connection_opened(self, session):
            calls.append("late opened")
            return "late"

    class Wrapper:
        @hookimpl(wrapper=True)
        def specgate_decode_frame(self, session, frame):
            calls.append("wrapped")
            result = yield
            return result

    session = type("S", (), {"device_type": "alpha"})()
    assert hooks.hook.specgate_connection_opened(session=session) == []
    pm.register(Late(), name="late")
    assert hooks.hook.specgate_connection_opened(session=session) == ["late"]
    assert pm.hook.specgate_connection_opened(session=session) == ["late"]
    assert calls == ["late opened", "late opened"] and alpha.opened == ["alpha", "alpha", "alpha"]
    spec = load_specs(pm)["alpha"]
    session.spec = spec
    outcome = Outcome(reply_message="reply", reply={"word": "hi"})
    assert hooks.hook.specgate_build_reply(session=session, outcome=outcome) == b"hi\n"
    assert calls[-1] == "late"
    pm.register(Wrapper(), name="wrapper")
    assert hooks.hook.specgate_decode_frame(session=session, frame=b"word") == pm.hook.specgate_decode_frame(
        session=session, frame=b"word"
    )
    assert calls.count("wrapped") == 2


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"replace_same_peer": "false"}, "replace_same_peer must be true or false"),
        ({"log_exchanges": 1}, "log_exchanges must be true or false"),
        ({"on_bad_frame": "explode"}, "on_bad_frame must be 'close' or 'skip'"),
        ({"frame_timeout": -1}, "frame_timeout must be a positive number"),
        ({"idle_timeout": "60"}, "idle_timeout must be a positive number"),
        ({"max_connections": 0}, "max_connections must be an integer at least 1"),
        ({"max_share_per_address": 0}, "max_share_per_address must be a number above 0 and at most 1"),
        ({"max_share_per_address": True}, "max_share_per_address must be a number"),
        ({"first_byte_timeout": 0}, "first_byte_timeout must be a positive number"),
        ({"backlog": 0}, "backlog must be an integer at least 1"),
        ({"port": 70000}, "port must be an integer between 0 and 65535"),
        ({"allow": ["not-an-ip"]}, "'not-an-ip' is not an IP address"),
        ({"proxy_protocol": []}, "proxy_protocol must be a list"),
        ({"options": {"on_bad_frame": "skip"}}, "on_bad_frame is a listener field, not a device option"),
    ],
)
def test_a_listener_config_refuses_values_it_cannot_use(fields, named):
    arguments = {"device_type": "alpha", "port": 0, **fields}
    with pytest.raises(ConfigError, match=named):
        ListenerConfig(**arguments)


async def test_a_gateway_refuses_a_listener_made_wrong_after_construction(two_devices, store):
    pm, *_ = two_devices
    listener = ListenerConfig("alpha", 0, "127.0.0.1")
    listener.on_bad_frame = "explode"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="on_bad_frame"):
        async with Gateway(Config(), store, pm, listeners=[listener]):
            pass


def test_a_later_plugins_spec_of_the_same_name_wins_in_serve_and_decode(tmp_path, monkeypatch, capsys):
    """An overriding spec ``fg150kal`` (a scale whose lines carry a tare too) replaces the bundled one for the
    gateway and for ``specgate decode``, which used to refuse two specs of one name."""
    override = tmp_path / "fg150kal.yaml"
    override.write_text(LINE_SPEC.format(name="fg150kal"))

    class Override:
        @hookimpl
        def specgate_register_specs(self):
            return [override]

    pm = get_plugin_manager(enabled=["fg150kal"], disabled=[], installed=False)
    pm.register(Override(), name="override")
    assert load_specs(pm)["fg150kal"].path == override
    monkeypatch.setattr("core.plugins.get_plugin_manager", lambda *a, **k: pm)
    assert main(["decode", "--spec", "fg150kal", "68656c6c6f"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert decoded["values"] == {"word": "hello"}
    # both plugins keep the device type's session hooks: the scale plugin still handles its messages
    owners = device_owners(pm)["fg150kal"]
    assert [pm.get_name(plugin) for plugin in owners] == ["fg150kal", "override"]
