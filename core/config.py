"""The loaded configuration: one YAML file, then environment variables, then command-line flags.

Precedence, lowest first: built-in defaults, the YAML file (``--config`` or ``SPECGATE_CONFIG``), environment
variables, command-line flags. Every key is described in ``docs/configuration.md``. A value that cannot be
used raises :class:`~core.errors.ConfigError` naming the key and the value.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from datetime import timezone
from pathlib import Path
from typing import Any, Mapping

import yaml

from core.errors import ConfigError
from core.gateway.types import ListenerConfig
from core.store import DEFAULT_STORE_URL
from core.timeutil import DEFAULT_TZ_OFFSET, tz_from_offset

#: runtime keys a listener entry may carry besides its device options (see core.gateway.listener)
LISTENER_RUNTIME_KEYS = ("replace_same_peer", "on_bad_frame", "log_exchanges", "frame_timeout", "proxy_protocol")
_LISTENER_KEYS = (
    "device_type", "port", "host", "options", "idle_timeout", "max_frame_length", "max_connections", "allow",
) + LISTENER_RUNTIME_KEYS
_TOP_KEYS = ("store", "timezone", "web", "plugins", "log_level", "shutdown_grace", "listeners", "devices")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_SCALE_IDLE_TIMEOUT = 10.0


@dataclass
class Config:
    """Everything the gateway, the web app and the admin commands read."""

    store_url: str = DEFAULT_STORE_URL
    store_options: dict[str, Any] = field(default_factory=dict)
    #: seconds east of UTC used for local time strings, calendar fields and ISO timestamps
    tz_offset: int = DEFAULT_TZ_OFFSET
    #: None = the listeners the plugins declare (``specgate_declare_listeners``); a list replaces them
    listeners: list[ListenerConfig] | None = None
    #: listeners added by ``--listen``: each replaces a listener on the same port, or is added
    extra_listeners: list[ListenerConfig] = field(default_factory=list)
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    web_enabled: bool = True
    #: None = every plugin (or ``SPECGATE_PLUGINS``); otherwise only these names
    plugins: list[str] | None = None
    disable_plugins: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    #: seconds in-flight device sessions get to finish on shutdown
    shutdown_grace: float = 10.0
    #: per device type options, e.g. ``{"gas_meter": {"checkin_spread": False}, "fg150kal": {...}}``
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the file the configuration was read from, if any
    source: str | None = None

    @property
    def tz(self) -> timezone:
        return tz_from_offset(self.tz_offset)

    def device_options(self, device_type: str) -> dict[str, Any]:
        """The options of one device type (a copy; empty when none are configured)."""
        return dict(self.devices.get(device_type, {}))

    @property
    def scale_idle_timeout(self) -> float:
        """Age after which the latest scale reading is ``stale`` (also the scale listener's idle timeout)."""
        return float(self.devices.get("fg150kal", {}).get("idle_timeout_sec", DEFAULT_SCALE_IDLE_TIMEOUT))


# --------------------------------------------------------------------------- value checks

def _where(key: str, source: str) -> str:
    return f"{key} (from {source})" if source else key


def _as_int(value: Any, key: str, source: str = "", low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{_where(key, source)} must be an integer, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"{_where(key, source)} must be an integer, got {value!r}") from None
    if not isinstance(value, int):
        raise ConfigError(f"{_where(key, source)} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{_where(key, source)} must be between {low} and {high}, got {value!r}")
    return value


def _as_float(value: Any, key: str, source: str = "", positive: bool = True) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{_where(key, source)} must be a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{_where(key, source)} must be a number, got {value!r}") from None
    if positive and not number > 0:
        raise ConfigError(f"{_where(key, source)} must be a number above 0, got {value!r}")
    return number


def _as_bool(value: Any, key: str, source: str = "") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{_where(key, source)} must be true or false, got {value!r}")


def _as_str(value: Any, key: str, source: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{_where(key, source)} must be a non-empty string, got {value!r}")
    return value.strip()


def _as_names(value: Any, key: str, source: str = "") -> list[str]:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ConfigError(f"{_where(key, source)} must be a list of plugin names, got {value!r}")


def _as_mapping(value: Any, key: str, source: str = "") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{_where(key, source)} must be a mapping, got {value!r}")
    return dict(value)


def _check_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(allowed))}")


def _log_level(value: Any, key: str, source: str = "") -> str:
    level = _as_str(value, key, source).upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"{_where(key, source)} must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return level


def _tz_offset(value: Any, key: str, source: str = "") -> int:
    try:
        return int(tz_from_offset(value).utcoffset(None).total_seconds())
    except ConfigError as exc:
        raise ConfigError(f"{_where(key, source)}: {exc}") from None


# --------------------------------------------------------------------------- listeners

def listener_from_mapping(entry: Any, where: str) -> ListenerConfig:
    """One listener entry of the file (``{device_type, port, ...}``) as a :class:`ListenerConfig`.

    Runtime keys (``replace_same_peer``, ``on_bad_frame``, ``log_exchanges``) may sit beside the others; they
    are kept in ``options`` where the runtime reads them.
    """
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping with device_type and port, got {entry!r}")
    _check_keys(entry, _LISTENER_KEYS, where)
    if "device_type" not in entry or "port" not in entry:
        raise ConfigError(f"{where} needs device_type and port, got {dict(entry)!r}")
    options = _as_mapping(entry.get("options"), f"{where}.options")
    for key in LISTENER_RUNTIME_KEYS:
        if key in entry:
            options[key] = entry[key]
    kwargs: dict[str, Any] = {
        "device_type": _as_str(entry["device_type"], f"{where}.device_type"),
        "port": _as_int(entry["port"], f"{where}.port", low=0, high=65535),
        "options": options,
    }
    if "host" in entry:
        kwargs["host"] = _as_str(entry["host"], f"{where}.host")
    if "idle_timeout" in entry:
        kwargs["idle_timeout"] = _as_float(entry["idle_timeout"], f"{where}.idle_timeout")
    if "max_frame_length" in entry:
        kwargs["max_frame_length"] = _as_int(entry["max_frame_length"], f"{where}.max_frame_length", low=1)
    if "max_connections" in entry:
        kwargs["max_connections"] = _as_int(entry["max_connections"], f"{where}.max_connections", low=1)
    if "allow" in entry:
        allow = entry["allow"]
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise ConfigError(f"{where}.allow must be a list of IP addresses or networks, got {allow!r}")
        kwargs["allow"] = list(allow)
    listener = ListenerConfig(**kwargs)
    check_listener(listener, where)
    return listener


def check_listener(listener: ListenerConfig, where: str) -> None:
    """Raise ``ConfigError`` for allow-list entries or runtime options that cannot be used."""
    import ipaddress

    for item in listener.allow:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{where}.allow: {item!r} is not an IP address or network") from None
    options = listener.options
    if "on_bad_frame" in options and options["on_bad_frame"] not in ("close", "skip"):
        raise ConfigError(f"{where}.on_bad_frame must be 'close' or 'skip', got {options['on_bad_frame']!r}")
    for key in ("replace_same_peer", "log_exchanges"):
        if key in options:
            options[key] = _as_bool(options[key], f"{where}.{key}")
    if "proxy_protocol" in options:
        proxies = options["proxy_protocol"]
        if isinstance(proxies, str):
            proxies = [item for item in proxies.split(";") if item]
        if not isinstance(proxies, list) or not proxies or not all(isinstance(p, str) for p in proxies):
            raise ConfigError(
                f"{where}.proxy_protocol must be a list of the load balancers' addresses or networks, got {proxies!r}"
            )
        for item in proxies:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(f"{where}.proxy_protocol: {item!r} is not an IP address or network") from None
        options["proxy_protocol"] = proxies
    if options.get("frame_timeout") is not None:
        value = options["frame_timeout"]
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = -1.0
        if isinstance(value, bool) or not seconds > 0:
            raise ConfigError(f"{where}.frame_timeout must be a positive number of seconds, got {value!r}")
        options["frame_timeout"] = seconds


def parse_listen_flag(text: str) -> ListenerConfig:
    """``DEVICE_TYPE:PORT[:key=value,...]`` (``--listen fg150kal:4002:scale_id=scale-02``).

    Keys naming a listener field (``host``, ``idle_timeout``, ``max_connections``, ``allow`` with ``;``
    between networks, ...) set it; any other key is a device option.
    """
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0]:
        raise ConfigError(f"--listen {text!r} is not DEVICE_TYPE:PORT[:key=value,...]")
    entry: dict[str, Any] = {"device_type": parts[0], "port": parts[1], "options": {}}
    if len(parts) == 3 and parts[2]:
        for pair in parts[2].split(","):
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(f"--listen {text!r}: {pair!r} is not key=value")
            if key == "allow":
                entry["allow"] = [v for v in value.split(";") if v]
            elif key in _LISTENER_KEYS:
                entry[key] = value
            else:
                entry["options"][key] = value
    return listener_from_mapping(entry, f"--listen {text}")


# --------------------------------------------------------------------------- loading

def _read_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"configuration file {path!r} does not exist")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"configuration file {path!r} must hold a mapping at its top level")
    return dict(data)


def _apply_file(config: Config, data: Mapping[str, Any], source: str) -> None:
    _check_keys(data, _TOP_KEYS, source)
    if "store" in data:
        store = data["store"]
        if isinstance(store, str):
            store = {"url": store}
        store = _as_mapping(store, "store", source)
        _check_keys(store, ("url", "options"), f"{source}: store")
        if "url" in store:
            config.store_url = _as_str(store["url"], "store.url", source)
        config.store_options = _as_mapping(store.get("options"), "store.options", source)
    if "timezone" in data:
        config.tz_offset = _tz_offset(data["timezone"], "timezone", source)
    if "web" in data:
        web = _as_mapping(data["web"], "web", source)
        _check_keys(web, ("host", "port", "enabled"), f"{source}: web")
        if "host" in web:
            config.web_host = _as_str(web["host"], "web.host", source)
        if "port" in web:
            config.web_port = _as_int(web["port"], "web.port", source, 0, 65535)
        if "enabled" in web:
            config.web_enabled = _as_bool(web["enabled"], "web.enabled", source)
    if "plugins" in data:
        plugins = _as_mapping(data["plugins"], "plugins", source)
        _check_keys(plugins, ("enable", "disable"), f"{source}: plugins")
        if plugins.get("enable") is not None:
            config.plugins = _as_names(plugins["enable"], "plugins.enable", source)
        if plugins.get("disable") is not None:
            config.disable_plugins = _as_names(plugins["disable"], "plugins.disable", source)
    if "log_level" in data:
        config.log_level = _log_level(data["log_level"], "log_level", source)
    if "shutdown_grace" in data:
        config.shutdown_grace = _as_float(data["shutdown_grace"], "shutdown_grace", source)
    if "devices" in data:
        devices = _as_mapping(data["devices"], "devices", source)
        for name, options in devices.items():
            config.devices[str(name)] = _as_mapping(options, f"devices.{name}", source)
    if "listeners" in data:
        entries = data["listeners"] or []
        if not isinstance(entries, list):
            raise ConfigError(f"listeners (from {source}) must be a list, got {entries!r}")
        config.listeners = [listener_from_mapping(e, f"{source}: listeners[{i}]") for i, e in enumerate(entries)]


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    if env.get("SPECGATE_STORE"):
        config.store_url = env["SPECGATE_STORE"].strip()
    if env.get("SPECGATE_TZ_OFFSET"):
        config.tz_offset = _tz_offset(env["SPECGATE_TZ_OFFSET"], "SPECGATE_TZ_OFFSET", "environment")
    if env.get("SPECGATE_WEB_HOST"):
        config.web_host = env["SPECGATE_WEB_HOST"].strip()
    if env.get("SPECGATE_WEB_PORT"):
        config.web_port = _as_int(env["SPECGATE_WEB_PORT"], "SPECGATE_WEB_PORT", "environment", 0, 65535)
    if env.get("SPECGATE_LOG_LEVEL"):
        config.log_level = _log_level(env["SPECGATE_LOG_LEVEL"], "SPECGATE_LOG_LEVEL", "environment")
    if env.get("SPECGATE_PLUGINS", "").strip():
        config.plugins = _as_names(env["SPECGATE_PLUGINS"], "SPECGATE_PLUGINS", "environment")
    if env.get("SPECGATE_DISABLE_PLUGINS", "").strip():
        config.disable_plugins = _as_names(env["SPECGATE_DISABLE_PLUGINS"], "SPECGATE_DISABLE_PLUGINS", "environment")
    scale = config.devices.setdefault("fg150kal", {})
    if env.get("SCALE_GATEWAY_LISTEN_HOST"):
        scale["listen_host"] = env["SCALE_GATEWAY_LISTEN_HOST"].strip()
    if env.get("SCALE_GATEWAY_LISTEN_PORT"):
        scale["listen_port"] = env["SCALE_GATEWAY_LISTEN_PORT"]
    if env.get("SCALE_GATEWAY_IDLE_TIMEOUT_SEC"):
        scale["idle_timeout_sec"] = env["SCALE_GATEWAY_IDLE_TIMEOUT_SEC"]


def _check_scale_options(config: Config) -> None:
    scale = config.devices.setdefault("fg150kal", {})
    where = "devices.fg150kal"
    if "listen_port" in scale:
        scale["listen_port"] = _as_int(scale["listen_port"], f"{where}.listen_port (SCALE_GATEWAY_LISTEN_PORT)", "", 0, 65535)
    if "idle_timeout_sec" in scale:
        scale["idle_timeout_sec"] = _as_float(
            scale["idle_timeout_sec"], f"{where}.idle_timeout_sec (SCALE_GATEWAY_IDLE_TIMEOUT_SEC)"
        )
    if "listen_host" in scale:
        scale["listen_host"] = _as_str(scale["listen_host"], f"{where}.listen_host (SCALE_GATEWAY_LISTEN_HOST)")
    if "scale_id" in scale:
        scale["scale_id"] = _as_str(scale["scale_id"], f"{where}.scale_id")
    if "scale_by_peer" in scale:
        mapping = _as_mapping(scale["scale_by_peer"], f"{where}.scale_by_peer")
        for ip, scale_id in mapping.items():
            if not isinstance(scale_id, str) or not scale_id:
                raise ConfigError(f"{where}.scale_by_peer[{ip!r}] must be a scale id string, got {scale_id!r}")
        scale["scale_by_peer"] = {str(k): v for k, v in mapping.items()}


def load_config(
    path: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    store_url: str | None = None,
    web_host: str | None = None,
    web_port: int | None = None,
    web_enabled: bool | None = None,
    listen: list[str] | None = None,
    log_level: str | None = None,
    listeners_enabled: bool | None = None,
) -> Config:
    """Build the configuration: defaults, then the file (``path`` or ``SPECGATE_CONFIG``), then ``env``
    (``os.environ`` by default), then the keyword arguments (the command-line flags).

    ``listeners_enabled=False`` drops the configured (or plugin default) listeners; ``listen`` entries are
    still added, so together they name exactly the listeners to run."""
    env = os.environ if env is None else env
    config = Config()
    path = path or env.get("SPECGATE_CONFIG") or None
    if path:
        config.source = str(path)
        _apply_file(config, _read_file(path), str(path))
    _apply_env(config, env)
    if store_url:
        config.store_url = store_url
    if web_host:
        config.web_host = web_host
    if web_port is not None:
        config.web_port = _as_int(web_port, "--web-port", "", 0, 65535)
    if web_enabled is not None:
        config.web_enabled = web_enabled
    if log_level:
        config.log_level = _log_level(log_level, "--log-level")
    if listeners_enabled is False:
        config.listeners = []
    for text in listen or []:
        config.extra_listeners.append(parse_listen_flag(text))
    if not config.web_enabled and config.listeners == [] and not config.extra_listeners:
        raise ConfigError("nothing to serve: the web app is off and no device listener is configured")
    _check_scale_options(config)
    return config


def configure_logging(config: Config) -> None:
    """Send ``specgate.*`` logs to stderr at the configured level."""
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("specgate").setLevel(config.log_level)


def with_listener_defaults(listener: ListenerConfig, default: ListenerConfig | None) -> ListenerConfig:
    """``listener`` completed by the plugin-declared ``default`` of the same device type: fields still at
    the dataclass default and missing options are taken from it, so ``--listen fg150kal:4002`` keeps the
    scale listener's host, idle timeout and runtime options."""
    if default is None:
        return listener
    plain = ListenerConfig(device_type=listener.device_type, port=listener.port)
    changes: dict[str, Any] = {}
    for name in ("host", "idle_timeout", "max_frame_length", "max_connections", "allow"):
        if getattr(listener, name) == getattr(plain, name):
            changes[name] = getattr(default, name)
    changes["options"] = {**default.options, **listener.options}
    return replace(listener, **changes)
