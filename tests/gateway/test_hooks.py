"""Every hook called directly through a plugin manager holding the built-in plugins, as the runtime calls it.

These pin what the built-in implementations answer (specs, listeners, decoding, handling, the reply bytes,
routes) independently of the TCP runtime; ``test_plugins.py::test_every_hook_is_called_by_a_test`` requires
one such call per hook.
"""
from __future__ import annotations

import dataclasses
import inspect
from decimal import Decimal
from pathlib import Path

import pytest

from core.config import Config
from core.errors import ConfigError, FrameError
from core.gateway.runtime import load_specs
from core.gateway.types import ListenerConfig, Outcome
from core.hookspecs import hookimpl
from core.plugins import get_plugin_manager
from core.spec import load_spec
from plugins.gas_meter import GasMeterPlugin
from tests.gas_meter.gas_meter_helpers import NOW, UID, hourly_slots, make_session, provision, reply_bytes, report_bytes


@pytest.fixture
def pm():
    """The built-in plugins only, the gas meter answering with a fixed clock."""
    manager = get_plugin_manager(enabled=["fg150kal"], disabled=[], load_entry_points=False)
    manager.register(GasMeterPlugin(clock=lambda: NOW), name="gas_meter")
    return manager


@pytest.fixture
def specs(pm):
    return load_specs(pm)


def gas_session(store, specs):
    return make_session(store, spec=specs["gas_meter"])


def scale_session(store, specs, scale_id="scale-07"):
    return dataclasses.replace(
        make_session(store, spec=specs["fg150kal"]),
        device_type="fg150kal", listen_port=4001,
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
    assert gas.options == {"on_bad_frame": "close", "log_exchanges": True, "replace_same_peer": False, "frame_timeout": 30.0}
    assert (scale.host, scale.port, scale.idle_timeout, scale.max_connections) == ("0.0.0.0", 4001, 10.0, 64)
    assert scale.options == {"scale_id": "default", "replace_same_peer": True, "on_bad_frame": "skip", "log_exchanges": False}


def test_declare_listeners_follows_the_device_options(pm):
    config = Config(devices={"fg150kal": {"listen_port": 4100, "listen_host": "127.0.0.1", "scale_id": "scale-02"}})
    scale = next(l for l in flattened(pm.hook.specgate_declare_listeners(config=config)) if l.device_type == "fg150kal")
    assert (scale.host, scale.port, scale.options["scale_id"]) == ("127.0.0.1", 4100, "scale-02")
    with pytest.raises(ConfigError, match="unknown gas_meter option.*checkin_sprad"):
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
    message = pm.hook.specgate_decode_frame(session=gas_session(None, specs), frame=frame)
    assert message.message == "report"
    assert (message.values["eid"], message.values["uid"], message.values["battery"]) == ("timestamp", UID, 61)
    assert message.values["counts"][:3] == [
        {"ts": NOW, "count": 507}, {"ts": NOW - 3600, "count": 500}, {"ts": 0, "count": 0},
    ]
    line = pm.hook.specgate_decode_frame(session=scale_session(None, specs), frame=b"ST,-00012.34 kg")
    assert line.message == "weight"
    assert (line.values["header"], line.values["sign"], line.values["value"], line.values["unit"]) == (
        "ST", "-", Decimal("12.34"), "kg",
    )
    with pytest.raises(FrameError):
        pm.hook.specgate_decode_frame(session=gas_session(None, specs), frame=b"\x00" * 256)


async def test_handle_message_keeps_a_stable_scale_reading_only_when_stored(pm, specs, store):
    session = scale_session(store, specs)
    message = pm.hook.specgate_decode_frame(session=session, frame=b"ST,-00012.34 kg")
    outcome = pm.hook.specgate_handle_message(session=session, message=message)
    assert isinstance(outcome, Outcome) and outcome.reply is None and not outcome.close
    assert await store.get_scale_latest("scale-07") is None
    await outcome.store(store)
    latest = await store.get_scale_latest("scale-07")
    assert (latest["status"], latest["weight"], latest["unit"], latest["raw"]) == ("ST", Decimal("-12.34"), "kg", "ST,-00012.34 kg")

    unstable = pm.hook.specgate_decode_frame(session=session, frame=b"US,+00013.00 kg")
    assert pm.hook.specgate_handle_message(session=session, message=unstable).store is None


async def test_handle_message_of_a_device_type_no_plugin_knows_is_none(pm, specs):
    session = dataclasses.replace(gas_session(None, specs), device_type="thermometer")
    message = pm.hook.specgate_decode_frame(session=gas_session(None, specs), frame=report_bytes("normal"))
    assert pm.hook.specgate_handle_message(session=session, message=message) is None


async def test_build_reply_gives_the_32_byte_gas_meter_reply(pm, specs, store):
    await provision(store)
    session = gas_session(store, specs)
    slots = hourly_slots(NOW, first_count=1000, n=24, per_hour=5)
    message = pm.hook.specgate_decode_frame(session=session, frame=report_bytes("normal", slots=slots))
    pending = pm.hook.specgate_handle_message(session=session, message=message)
    assert inspect.isawaitable(pending)  # the gas meter handler looks the device up: an awaitable
    outcome = await pending
    reply = pm.hook.specgate_build_reply(session=session, outcome=outcome)
    assert len(reply) == 32
    assert reply == reply_bytes(0xC0, UID, NOW, NOW + 43200, 1000 + 23 * 5, 10, 600, "192.0.2.10", 5004)
    # an outcome with nothing to reply builds nothing
    assert pm.hook.specgate_build_reply(session=session, outcome=Outcome()) is None


def test_register_routes_gives_the_scale_gateway_routes(pm):
    routes = flattened(pm.hook.specgate_register_routes(config=Config()))
    assert {route.path: set(route.methods) for route in routes} == {
        "/api/scale-gateway/latest/": {"GET", "HEAD"},
        "/api/scale-gateway/commit/": {"POST"},
    }
