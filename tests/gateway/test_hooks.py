"""Every hook called directly through a plugin manager holding the built-in plugins, as the runtime calls it.

These pin what the built-in implementations answer (specs, listeners, decoding, handling, the reply bytes,
routes) independently of the TCP runtime; ``test_plugins.py::test_every_hook_is_called_by_a_test`` requires
one such call per hook.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from core.api import ListenerConfig, Outcome
from core.config import Config
from core.errors import ConfigError, FrameError
from core.gateway.device_hooks import DeviceHooks
from core.hookspecs import hookimpl
from core.plugins import get_plugin_manager, load_specs
from core.spec import load_spec
from tests.gas_meter.gas_meter_helpers import NOW, UID, hourly_slots, make_session, provision, reply_bytes, report_bytes


@pytest.fixture
def pm():
    """The built-in plugins only (sessions made by the helpers carry a fixed clock)."""
    return get_plugin_manager(enabled=["fg150kal", "gas_meter"], disabled=[], installed=False)


def sessions_of(pm, device_type):
    """The session hooks as the runtime calls them for ``device_type``."""
    return DeviceHooks(pm, device_type)


@pytest.fixture
def specs(pm):
    return load_specs(pm)


def gas_session(store, specs):
    return make_session(store, spec=specs["gas_meter"])


def scale_session(store, specs, scale_id="scale-07"):
    return dataclasses.replace(
        make_session(store, spec=specs["fg150kal"]),
        device_type="fg150kal",
        listen_port=4001,
        listener=ListenerConfig("fg150kal", 4001, options={"scale_id": scale_id}),
    )


def flattened(results):
    return [item for result in results for item in result or []]


def test_register_specs_gives_the_bundled_spec_files(pm):
    paths = [Path(p) for p in flattened(pm.hook.specgate_register_specs())]
    assert sorted(p.name for p in paths) == ["fg150kal.yaml", "gas_meter.yaml"]
    for path in paths:
        assert path.is_file()
        assert load_spec(path).name == path.stem


def test_declare_listeners_gives_the_gas_meter_and_scale_listeners(pm):
    listeners = flattened(pm.hook.specgate_declare_listeners(config=Config()))
    by_type = {listener.device_type: listener for listener in listeners}
    assert sorted(by_type) == ["fg150kal", "gas_meter"] and len(listeners) == 2
    gas, scale = by_type["gas_meter"], by_type["fg150kal"]
    assert (gas.host, gas.port, gas.max_frame_length) == ("0.0.0.0", 5004, 256)
    assert (gas.on_bad_frame, gas.log_exchanges, gas.replace_same_peer, gas.frame_timeout) == (
        "close",
        True,
        False,
        30.0,
    )
    assert (scale.host, scale.port, scale.idle_timeout, scale.max_connections) == ("0.0.0.0", 4001, 10.0, 64)
    assert (scale.on_bad_frame, scale.log_exchanges, scale.replace_same_peer) == ("skip", False, True)
    assert gas.options == {} and scale.options == {"scale_id": "default"}


def test_declare_listeners_follows_the_device_options(pm):
    config = Config(devices={"fg150kal": {"listen_port": 4100, "listen_host": "127.0.0.1", "scale_id": "scale-02"}})
    scale = next(
        entry
        for entry in flattened(pm.hook.specgate_declare_listeners(config=config))
        if entry.device_type == "fg150kal"
    )
    assert (scale.host, scale.port, scale.options["scale_id"]) == ("127.0.0.1", 4100, "scale-02")
    with pytest.raises(ConfigError, match=r"unknown gas_meter option.*checkin_sprad"):
        pm.hook.specgate_declare_listeners(config=Config(devices={"gas_meter": {"checkin_sprad": True}}))


def test_connection_hooks_reach_a_plugin_and_no_built_in_implements_them(pm, specs):
    seen = []

    class Recorder:
        @hookimpl
        def specgate_connection_opened(self, session):
            seen.append(("opened", session.peer_port))

        @hookimpl
        def specgate_connection_closed(self, session, reason):
            seen.append(("closed", session.peer_port, reason))

    pm.register(Recorder(), name="recorder")
    session = gas_session(None, specs)
    assert pm.hook.specgate_connection_opened(session=session) == []
    assert pm.hook.specgate_connection_closed(session=session, reason="idle_timeout") == []
    assert seen == [("opened", 40000), ("closed", 40000, "idle_timeout")]
    for caller in (pm.hook.specgate_connection_opened, pm.hook.specgate_connection_closed):
        assert [impl.plugin_name for impl in caller.get_hookimpls()] == ["recorder"]


def test_decode_frame_decodes_with_the_session_spec(pm, specs):
    frame = report_bytes("timestamp", slots=hourly_slots(NOW, first_count=500, n=2), battery=61)
    gas, scale = sessions_of(pm, "gas_meter"), sessions_of(pm, "fg150kal")
    message = gas.hook.specgate_decode_frame(session=gas_session(None, specs), frame=frame)
    assert message.message == "report"
    assert (message.values["eid"], message.values["uid"], message.values["battery"]) == ("timestamp", UID, 61)
    assert message.values["counts"][:3] == [
        {"ts": NOW, "count": 507},
        {"ts": NOW - 3600, "count": 500},
        {"ts": 0, "count": 0},
    ]
    line = scale.hook.specgate_decode_frame(session=scale_session(None, specs), frame=b"ST,-00012.34 kg")
    assert line.message == "weight"
    assert (line.values["header"], line.values["sign"], line.values["value"], line.values["unit"]) == (
        "ST",
        "-",
        Decimal("12.34"),
        "kg",
    )
    with pytest.raises(FrameError):
        gas.hook.specgate_decode_frame(session=gas_session(None, specs), frame=b"\x00" * 256)


async def test_handle_message_keeps_a_stable_scale_reading_only_when_stored(pm, specs, store):
    session, scale = scale_session(store, specs), sessions_of(pm, "fg150kal")
    message = scale.hook.specgate_decode_frame(session=session, frame=b"ST,-00012.34 kg")
    outcome = scale.hook.specgate_handle_message(session=session, message=message)
    assert isinstance(outcome, Outcome) and outcome.reply is None and not outcome.close
    assert await store.get_scale_latest("scale-07") is None
    await outcome.store(store)
    latest = await store.get_scale_latest("scale-07")
    assert (latest["status"], latest["weight"], latest["unit"], latest["raw"]) == (
        "ST",
        Decimal("-12.34"),
        "kg",
        "ST,-00012.34 kg",
    )

    assert latest["received_at"] == NOW  # stamped by the session's clock
    unstable = scale.hook.specgate_decode_frame(session=session, frame=b"US,+00013.00 kg")
    passing = scale.hook.specgate_handle_message(session=session, message=unstable)
    await passing.store(store)  # an unstable line is only announced on the live feed
    assert await store.get_scale_latest("scale-07") == latest


async def test_handle_message_of_a_device_type_no_plugin_knows_is_none(pm, specs):
    session = dataclasses.replace(gas_session(None, specs), device_type="thermometer")
    message = sessions_of(pm, "gas_meter").hook.specgate_decode_frame(session=session, frame=report_bytes("normal"))
    assert sessions_of(pm, "thermometer").hook.specgate_handle_message(session=session, message=message) is None


async def test_build_reply_gives_the_32_byte_gas_meter_reply(pm, specs, store):
    await provision(store)
    session, gas = gas_session(store, specs), sessions_of(pm, "gas_meter")
    slots = hourly_slots(NOW, first_count=1000, n=24, per_hour=5)
    message = gas.hook.specgate_decode_frame(session=session, frame=report_bytes("normal", slots=slots))
    outcome = gas.hook.specgate_handle_message(session=session, message=message)
    assert outcome.reply is None  # decided in the store step, with the device lookup
    await outcome.store(store)
    reply = gas.hook.specgate_build_reply(session=session, outcome=outcome)
    assert len(reply) == 32
    assert reply == reply_bytes(0xC0, UID, NOW, NOW + 43200, 1000 + 23 * 5, 10, 600, "192.0.2.10", 5004)
    # an outcome with nothing to reply builds nothing
    assert gas.hook.specgate_build_reply(session=session, outcome=Outcome()) is None


def test_register_routes_gives_the_scale_routes(pm):
    routes = flattened(pm.hook.specgate_register_routes(config=Config()))
    assert {route.path: set(route.methods) for route in routes} == {
        "/api/scale-gateway/latest/": {"GET", "HEAD"},
        "/api/scale-gateway/commit/": {"POST"},
        "/api/v1/weighings": {"GET", "HEAD"},
        "/api/v1/cylinders/{no}/weighings": {"GET", "HEAD"},
        "/api/v1/scales": {"GET", "HEAD"},
    }


def test_declare_options_gives_each_plugins_settings_and_the_legacy_variables(pm):
    options = flattened(pm.hook.specgate_declare_options())
    by_key = {(option.section, option.key): option for option in options}
    assert {key for section, key in by_key if section == "gas_meter"} == {
        "checkin_spread",
        "checkin_min_gap",
        "default_ref_interval",
        "tz_offset",
    }
    assert {key: option.env for (section, key), option in by_key.items() if section == "fg150kal" and option.env} == {
        "listen_host": "SCALE_GATEWAY_LISTEN_HOST",
        "listen_port": "SCALE_GATEWAY_LISTEN_PORT",
        "idle_timeout_sec": "SCALE_GATEWAY_IDLE_TIMEOUT_SEC",
    }
    assert all(option.help for option in options)
    port = by_key[("fg150kal", "listen_port")]
    assert port.parse("4100", "x") == 4100
    with pytest.raises(ConfigError, match="x must be between 0 and 65535"):
        port.parse("70000", "x")


def test_register_commands_adds_the_device_commands_and_the_weighing_import(pm):
    import argparse

    parser = argparse.ArgumentParser(prog="specgate")
    subparsers = parser.add_subparsers()
    pm.hook.specgate_register_commands(subparsers=subparsers)
    assert sorted(subparsers.choices) == ["devices", "weighings"]
    args = parser.parse_args(
        [
            "devices",
            "add",
            "D4245A98",
            "--tenant",
            "gas_demo",
            "--ref-interval",
            "3600",
            "--server-ip",
            "192.0.2.10",
            "--server-port",
            "5004",
            "--active",
        ]
    )
    assert args.func.__name__ == "devices_add" and (args.uid, args.ref_interval, args.active) == (
        "D4245A98",
        3600,
        True,
    )


def test_register_simulators_adds_one_simulator_per_device_plugin(pm):
    import argparse

    parser = argparse.ArgumentParser(prog="specgate simulate")
    subparsers = parser.add_subparsers()
    pm.hook.specgate_register_simulators(subparsers=subparsers)
    assert sorted(subparsers.choices) == ["gas-meter", "scale"]
    args = parser.parse_args(["scale", "--port", "4002", "--lines", "5"])
    assert (args.port, args.lines, args.scale_id) == (4002, 5, None)  # the listener's own unless told
