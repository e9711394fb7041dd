"""Configuration: defaults, file, environment and flags in that order, and clear errors."""

from __future__ import annotations

import pytest

from core.config import Config, load_config, parse_listen_flag
from core.errors import ConfigError
from core.gateway.runtime import resolve_listeners
from core.plugins import get_plugin_manager


def write(tmp_path, text: str) -> str:
    path = tmp_path / "specgate.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_without_file_or_environment():
    config = load_config(env={})
    assert (config.store_url, config.tz_offset, config.web_host, config.web_port) == (
        "sqlite:///specgate.db",
        32400,
        "127.0.0.1",
        8000,
    )
    assert config.listeners is None and config.web_enabled and config.log_level == "INFO"
    assert config.device_options("fg150kal")["idle_timeout_sec"] == 10.0
    assert config.device_options("gas_meter") == {
        "checkin_spread": False,
        "checkin_min_gap": 0.5,
        "default_ref_interval": 43200,
    }


def test_default_listeners_come_from_the_plugins():
    config = load_config(env={})
    listeners = resolve_listeners(config, get_plugin_manager(enabled=None, disabled=[], installed=False))
    ports = {listener.device_type: listener.port for listener in listeners}
    assert ports == {"gas_meter": 5004, "fg150kal": 4001}
    scale = next(entry for entry in listeners if entry.device_type == "fg150kal")
    assert scale.options["scale_id"] == "default" and scale.replace_same_peer is True
    assert scale.on_bad_frame == "skip" and scale.idle_timeout == 10.0 and scale.host == "0.0.0.0"


def test_file_then_environment_then_flags(tmp_path):
    path = write(
        tmp_path,
        """
store: {url: "mongodb://db.example:27017/", options: {common_db: gas_common}}
timezone: "+01:00"
web: {host: 0.0.0.0, port: 8080}
log_level: debug
devices:
  gas_meter: {checkin_spread: true}
  fg150kal: {scale_id: dock, scale_by_peer: {"192.0.2.5": scale-05}}
listeners:
  - {device_type: fg150kal, port: 4010, allow: ["192.0.2.0/24"], max_connections: 4}
""",
    )
    config = load_config(path, env={"SPECGATE_WEB_PORT": "9000", "SCALE_GATEWAY_IDLE_TIMEOUT_SEC": "3.5"})
    assert config.store_url == "mongodb://db.example:27017/" and config.store_options == {"common_db": "gas_common"}
    assert config.tz_offset == 3600 and config.log_level == "DEBUG"
    assert (config.web_host, config.web_port) == ("0.0.0.0", 9000)
    assert config.device_options("gas_meter") == {
        "checkin_spread": True,
        "checkin_min_gap": 0.5,
        "default_ref_interval": 43200,
    }
    assert config.device_options("fg150kal")["idle_timeout_sec"] == 3.5
    flagged = load_config(path, env={"SPECGATE_WEB_PORT": "9000"}, web_port=7000, store_url="sqlite:///x.db")
    assert (flagged.web_port, flagged.store_url) == (7000, "sqlite:///x.db")
    listeners = resolve_listeners(config, get_plugin_manager(enabled=None, disabled=[], installed=False))
    assert [(entry.device_type, entry.port) for entry in listeners] == [("fg150kal", 4010)]
    scale = listeners[0]
    assert scale.allow == ["192.0.2.0/24"] and scale.max_connections == 4
    assert scale.idle_timeout == 3.5 and scale.options["scale_id"] == "dock"
    assert scale.options["scale_by_peer"] == {"192.0.2.5": "scale-05"} and scale.replace_same_peer is True


def test_specgate_config_names_the_file(tmp_path):
    path = write(tmp_path, "web: {port: 8123}\n")
    assert load_config(env={"SPECGATE_CONFIG": path}).web_port == 8123


def test_scale_gateway_environment_variables():
    config = load_config(
        env={
            "SCALE_GATEWAY_LISTEN_HOST": "127.0.0.1",
            "SCALE_GATEWAY_LISTEN_PORT": "4100",
            "SCALE_GATEWAY_IDLE_TIMEOUT_SEC": "20",
        }
    )
    listeners = resolve_listeners(config, get_plugin_manager(enabled=["fg150kal"], disabled=[], installed=False))
    assert [(entry.host, entry.port, entry.idle_timeout) for entry in listeners] == [("127.0.0.1", 4100, 20.0)]
    assert config.device_options("fg150kal")["idle_timeout_sec"] == 20.0


def test_listen_flags_add_a_scale_and_replace_by_port():
    config = load_config(
        env={}, listen=["fg150kal:4002:scale_id=scale-02,max_connections=2", "gas_meter:5004:tenant=gas_demo"]
    )
    listeners = resolve_listeners(config, get_plugin_manager(enabled=None, disabled=[], installed=False))
    by_port = {entry.port: entry for entry in listeners}
    assert sorted(by_port) == [4001, 4002, 5004]
    assert by_port[4002].options["scale_id"] == "scale-02" and by_port[4002].max_connections == 2
    assert by_port[4002].on_bad_frame == "skip" and by_port[4002].idle_timeout == 10.0
    assert by_port[5004].options["tenant"] == "gas_demo"


def test_proxy_protocol_from_the_listen_flag():
    config = load_config(env={}, listeners_enabled=False, listen=["gas_meter:5004:proxy_protocol=10.0.0.0/8;10.9.0.1"])
    listener = resolve_listeners(config, get_plugin_manager(enabled=None, disabled=[], installed=False))[0]
    assert listener.proxy_protocol == ["10.0.0.0/8", "10.9.0.1"]


def test_no_listeners_keeps_only_the_listen_flags():
    pm = get_plugin_manager(enabled=None, disabled=[], installed=False)
    web_only = load_config(env={}, listeners_enabled=False)
    assert resolve_listeners(web_only, pm) == [] and web_only.web_enabled
    exact = load_config(env={}, listeners_enabled=False, listen=["gas_meter:15004"])
    assert [(entry.device_type, entry.port) for entry in resolve_listeners(exact, pm)] == [("gas_meter", 15004)]
    with pytest.raises(ConfigError, match="nothing to serve"):
        load_config(env={}, listeners_enabled=False, web_enabled=False)


def test_an_empty_listener_list_disables_the_defaults(tmp_path):
    config = load_config(write(tmp_path, "listeners: []\n"), env={})
    assert resolve_listeners(config, get_plugin_manager(enabled=None, disabled=[], installed=False)) == []


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ("web: {port: eighty}\n", {}, "web.port"),
        ("web: {port: 70000}\n", {}, "web.port"),
        ("timezone: nine\n", {}, "timezone"),
        ("colour: blue\n", {}, "colour"),
        ("listeners: [{device_type: fg150kal}]\n", {}, "listeners[0]"),
        ("listeners: [{device_type: fg150kal, port: 1, allow: [not-an-ip]}]\n", {}, "not-an-ip"),
        ("listeners: [{device_type: fg150kal, port: 1, on_bad_frame: explode}]\n", {}, "on_bad_frame"),
        ("listeners: [{device_type: gas_meter, port: 1, frame_timeout: -3}]\n", {}, "frame_timeout"),
        ("listeners: [{device_type: gas_meter, port: 1, proxy_protocol: [lb.example]}]\n", {}, "proxy_protocol"),
        ("listeners: [{device_type: gas_meter, port: 1, proxy_protocol: true}]\n", {}, "proxy_protocol"),
        ("listeners: [{device_type: fg150kal, port: 1, idle_timeout: 0}]\n", {}, "idle_timeout"),
        ("log_level: chatty\n", {}, "log_level"),
        ("", {"SCALE_GATEWAY_LISTEN_PORT": "forty"}, "SCALE_GATEWAY_LISTEN_PORT"),
        ("", {"SCALE_GATEWAY_IDLE_TIMEOUT_SEC": "-1"}, "SCALE_GATEWAY_IDLE_TIMEOUT_SEC"),
        ("", {"SPECGATE_WEB_PORT": "x"}, "SPECGATE_WEB_PORT"),
        ("- just a list\n", {}, "mapping"),
        ("web: [\n", {}, "not valid YAML"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, env, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=env)
    assert named in str(caught.value)


def test_missing_file_and_bad_listen_flags(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"), env={})
    for text in ("fg150kal", "fg150kal:port", ":4001", "fg150kal:4001:scale_id"):
        with pytest.raises(ConfigError, match="--listen"):
            parse_listen_flag(text)


def test_listener_options_a_plugin_declares_are_checked_at_start_up(tmp_path):
    pm = get_plugin_manager(enabled=None, disabled=[], installed=False)
    bad = load_config(env={}, listen=["gas_meter:15004:checkin_spread=often"])
    with pytest.raises(ConfigError, match="checkin_spread must be true or false"):
        resolve_listeners(bad, pm)
    by_peer = load_config(env={}, listeners_enabled=False, listen=["fg150kal:14002:scale_by_peer=x"])
    with pytest.raises(ConfigError, match="listener fg150kal:14002 scale_by_peer must be a mapping"):
        resolve_listeners(by_peer, pm)
    misspelt = write(tmp_path, "devices: {fg150kal: {listen_port: eighty}}\n")
    with pytest.raises(ConfigError, match=r"devices.fg150kal.listen_port \(from .*specgate.yaml\) must be an integer"):
        load_config(misspelt, env={})


def test_two_listeners_on_one_port_are_refused():
    config = Config(listeners=[parse_listen_flag("fg150kal:4001"), parse_listen_flag("gas_meter:4001")])
    with pytest.raises(ConfigError, match="port 4001 is configured twice"):
        resolve_listeners(config, get_plugin_manager(enabled=None, disabled=[], installed=False))


def test_connection_limits_come_from_the_file_and_the_listen_flags(tmp_path):
    path = write(
        tmp_path,
        "listeners:\n"
        "  - {device_type: gas_meter, port: 5004, max_share_per_address: '0.1', first_byte_timeout: 3,"
        " backlog: '2048'}\n"
        "  - {device_type: fg150kal, port: 4001}\n",
    )
    config = load_config(
        path, env={}, listen=["fg150kal:4002:max_share_per_address=0.5,first_byte_timeout=2.5,backlog=64"]
    )
    by_port = {entry.port: entry for entry in resolve_listeners(config, get_plugin_manager(installed=False))}
    meter, scale, extra = by_port[5004], by_port[4001], by_port[4002]
    assert (meter.max_share_per_address, meter.first_byte_timeout, meter.backlog) == (0.1, 3.0, 2048)
    assert meter.max_per_address == 100
    assert (extra.max_share_per_address, extra.first_byte_timeout, extra.backlog) == (0.5, 2.5, 64)
    # the plugins' defaults: a quarter of the slots per address; the scale's line must end within 5 s
    assert (scale.max_share_per_address, scale.max_per_address, scale.frame_timeout) == (0.25, 16, 5.0)
    assert (scale.first_byte_timeout, scale.backlog) == (10.0, 1024)


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("max_share_per_address: 0", "max_share_per_address must be a number above 0"),
        ("max_share_per_address: 1.5", "max_share_per_address must be a number above 0 and at most 1"),
        ("first_byte_timeout: soon", "first_byte_timeout must be a number"),
        ("backlog: 0", "listeners\\[0\\].backlog must be at least 1"),
    ],
)
def test_bad_connection_limits_name_the_key(tmp_path, entry, named):
    path = write(tmp_path, f"listeners: [{{device_type: gas_meter, port: 5004, {entry}}}]\n")
    with pytest.raises(ConfigError, match=named):
        load_config(path, env={})


def test_an_environment_variable_of_only_spaces_counts_as_unset():
    config = load_config(
        env={"SPECGATE_STORE": "   ", "SPECGATE_LOG_LEVEL": " ", "SPECGATE_WEB_PORT": "  "}, options=[]
    )
    assert (config.store_url, config.log_level, config.web_port) == ("sqlite:///specgate.db", "INFO", 8000)
