"""The loaded configuration: one YAML file, then environment variables, then command-line flags.

Precedence, lowest first: built-in defaults, the YAML file (``--config`` or ``SPECGATE_CONFIG``), environment
variables, command-line flags. Every key is described in ``docs/configuration.md``. A value that cannot be
used raises :class:`~core.errors.ConfigError` naming the key and the value.

Device types' own settings (``devices.<type>`` in the file, and any environment variables a plugin reads)
are declared by their plugins (``specgate_declare_options``) and checked here with the rest
(:mod:`core.config.options`); listener entries are :class:`~core.config.listeners.ListenerConfig`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from core.config.listeners import (
    LISTENER_FIELDS,
    BadFramePolicy,
    ListenerConfig,
    listener_from_mapping,
    parse_listen_flag,
    with_listener_defaults,
)
from core.config.options import DeviceOption, apply_device_options
from core.config.values import as_float, as_int, as_log_level, as_mapping, as_names, as_str, check_keys
from core.config.web import WEB_SETTINGS
from core.errors import ConfigError
from core.store import DEFAULT_STORE_URL
from core.timeutil import DEFAULT_TZ_OFFSET, tz_from_offset

__all__ = [
    "LISTENER_FIELDS",
    "BadFramePolicy",
    "Config",
    "DeviceOption",
    "ListenerConfig",
    "configure_logging",
    "listener_from_mapping",
    "load_config",
    "parse_listen_flag",
    "with_listener_defaults",
]

_TOP_KEYS = (
    "store",
    "timezone",
    "web",
    "plugins",
    "log_level",
    "log_format",
    "log_summary_interval",
    "shutdown_grace",
    "listeners",
    "devices",
)
LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)


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
    # the ``web`` section: each key is described once, in core/config/web.py (WEB_SETTINGS)
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    web_enabled: bool = True
    web_max_connections: int = 100
    web_keep_alive_timeout: int = 5
    web_header_timeout: float = 10.0
    web_live_connections_per_user: int = 5
    web_trusted_networks: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    web_cors_origins: list[str] = field(default_factory=list)
    web_session_idle_timeout: float = 1800.0
    web_session_lifetime: float = 43200.0
    web_login_max_failures: int = 5
    web_login_max_address_failures: int = 20
    web_registrations_per_hour: int = 5
    web_ssl_certfile: str | None = None
    web_ssl_keyfile: str | None = None
    web_cookie_secure: bool | None = None
    web_compatible_api: bool = True
    #: None = every plugin (or ``SPECGATE_PLUGINS``); otherwise only these names
    plugins: list[str] | None = None
    disable_plugins: list[str] = field(default_factory=list)
    log_level: str = "INFO"
    #: ``text`` (one readable line per record) or ``json`` (one JSON object per line, for log shippers)
    log_format: LogFormat = "text"
    #: seconds between a listener's INFO activity summaries (sessions themselves are DEBUG); 0 = none
    log_summary_interval: float = 60.0
    #: seconds in-flight device sessions get to finish on shutdown
    shutdown_grace: float = 10.0
    #: per device type options (``devices.<type>``), checked against what the plugins declare
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the file the configuration was read from, if any
    source: str | None = None

    @property
    def tz(self) -> timezone:
        return tz_from_offset(self.tz_offset)

    @property
    def web_https(self) -> bool:
        return bool(self.web_ssl_certfile)

    @property
    def web_secure_cookies(self) -> bool:
        """Cookies marked Secure: under HTTPS, or when set (behind a proxy that terminates HTTPS)."""
        return self.web_https if self.web_cookie_secure is None else self.web_cookie_secure

    def device_options(self, device_type: str) -> dict[str, Any]:
        """The options of one device type (a copy; empty when none are configured)."""
        return dict(self.devices.get(device_type, {}))


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


def _tz_offset(value: Any, key: str, source: str = "") -> int:
    try:
        offset = tz_from_offset(value).utcoffset(None)
    except ConfigError as exc:
        raise ConfigError(f"{key} (from {source}): {exc}" if source else f"{key}: {exc}") from None
    assert offset is not None  # a fixed-offset zone always has one
    return int(offset.total_seconds())


def _log_format(value: Any, key: str, source: str = "") -> LogFormat:
    text = as_str(value, key, source).lower()
    if text not in LOG_FORMATS:
        origin = f" (from {source})" if source else ""
        raise ConfigError(f"{key}{origin} must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return "json" if text == "json" else "text"


def _apply_file(config: Config, data: Mapping[str, Any], source: str) -> None:
    check_keys(data, _TOP_KEYS, source)
    if "store" in data:
        store = data["store"]
        if isinstance(store, str):
            store = {"url": store}
        store = as_mapping(store, "store", source)
        check_keys(store, ("url", "options"), f"{source}: store")
        if "url" in store:
            config.store_url = as_str(store["url"], "store.url", source)
        config.store_options = as_mapping(store.get("options"), "store.options", source)
    if "timezone" in data:
        config.tz_offset = _tz_offset(data["timezone"], "timezone", source)
    if "web" in data:
        web = as_mapping(data["web"], "web", source)
        check_keys(web, tuple(setting.key for setting in WEB_SETTINGS), f"{source}: web")
        for setting in WEB_SETTINGS:
            if setting.key in web:
                setattr(config, setting.attribute, setting.parse(web[setting.key], f"web.{setting.key}", source))
    if "plugins" in data:
        plugins = as_mapping(data["plugins"], "plugins", source)
        check_keys(plugins, ("enable", "disable"), f"{source}: plugins")
        if plugins.get("enable") is not None:
            config.plugins = as_names(plugins["enable"], "plugins.enable", source)
        if plugins.get("disable") is not None:
            config.disable_plugins = as_names(plugins["disable"], "plugins.disable", source)
    if "log_level" in data:
        config.log_level = as_log_level(data["log_level"], "log_level", source)
    if "log_format" in data:
        config.log_format = _log_format(data["log_format"], "log_format", source)
    if "log_summary_interval" in data:
        config.log_summary_interval = as_float(
            data["log_summary_interval"], "log_summary_interval", source, positive=False
        )
    if "shutdown_grace" in data:
        config.shutdown_grace = as_float(data["shutdown_grace"], "shutdown_grace", source)
    if "devices" in data:
        devices = as_mapping(data["devices"], "devices", source)
        for name, options in devices.items():
            config.devices[str(name)] = as_mapping(options, f"devices.{name}", source)
    if "listeners" in data:
        entries = data["listeners"] or []
        if not isinstance(entries, list):
            raise ConfigError(f"listeners (from {source}) must be a list, got {entries!r}")
        config.listeners = [listener_from_mapping(e, f"{source}: listeners[{i}]") for i, e in enumerate(entries)]


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    """Environment variables; one that is empty or only spaces counts as unset."""
    values = {name: text.strip() for name, text in env.items() if name.startswith("SPECGATE_") and text.strip()}
    if "SPECGATE_STORE" in values:
        config.store_url = values["SPECGATE_STORE"]
    if "SPECGATE_TZ_OFFSET" in values:
        config.tz_offset = _tz_offset(values["SPECGATE_TZ_OFFSET"], "SPECGATE_TZ_OFFSET", "environment")
    for setting in WEB_SETTINGS:
        if setting.env and setting.env in values:
            setattr(config, setting.attribute, setting.parse(values[setting.env], setting.env, "environment"))
    if "SPECGATE_LOG_LEVEL" in values:
        config.log_level = as_log_level(values["SPECGATE_LOG_LEVEL"], "SPECGATE_LOG_LEVEL", "environment")
    if "SPECGATE_LOG_FORMAT" in values:
        config.log_format = _log_format(values["SPECGATE_LOG_FORMAT"], "SPECGATE_LOG_FORMAT", "environment")
    if "SPECGATE_PLUGINS" in values:
        config.plugins = as_names(values["SPECGATE_PLUGINS"], "SPECGATE_PLUGINS", "environment")
    if "SPECGATE_DISABLE_PLUGINS" in values:
        config.disable_plugins = as_names(values["SPECGATE_DISABLE_PLUGINS"], "SPECGATE_DISABLE_PLUGINS", "environment")


def load_config(
    path: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    store_url: str | None = None,
    web_host: str | None = None,
    web_port: int | None = None,
    web_enabled: bool | None = None,
    web_max_connections: int | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    listen: list[str] | None = None,
    log_level: str | None = None,
    log_format: str | None = None,
    listeners_enabled: bool | None = None,
    options: Iterable[DeviceOption] | None = None,
) -> Config:
    """Build the configuration: defaults, then the file (``path`` or ``SPECGATE_CONFIG``), then ``env``
    (``os.environ`` by default), then the keyword arguments (the command-line flags).

    ``listeners_enabled=False`` drops the configured (or plugin default) listeners; ``listen`` entries are
    still added, so together they name exactly the listeners to run. ``options`` are the device options to
    check; by default those declared by the plugins this configuration selects."""
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
        config.web_port = as_int(web_port, "--web-port", "", 0, 65535)
    if web_enabled is not None:
        config.web_enabled = web_enabled
    if web_max_connections is not None:
        config.web_max_connections = as_int(web_max_connections, "--web-max-connections", "", 1)
    if ssl_certfile:
        config.web_ssl_certfile = ssl_certfile
    if ssl_keyfile:
        config.web_ssl_keyfile = ssl_keyfile
    if bool(config.web_ssl_certfile) != bool(config.web_ssl_keyfile):
        raise ConfigError("HTTPS needs both a certificate and its key (web.ssl_certfile and web.ssl_keyfile)")
    if log_level:
        config.log_level = as_log_level(log_level, "--log-level")
    if log_format:
        config.log_format = _log_format(log_format, "--log-format")
    if listeners_enabled is False:
        config.listeners = []
    for text in listen or []:
        config.extra_listeners.append(parse_listen_flag(text))
    if not config.web_enabled and config.listeners == [] and not config.extra_listeners:
        raise ConfigError("nothing to serve: the web app is off and no device listener is configured")
    if options is None:
        from core.plugins import declared_options, get_plugin_manager

        options = declared_options(get_plugin_manager(config.plugins, config.disable_plugins))
    apply_device_options(config.devices, options, env, config.source or "")
    return config


class JSONLogFormatter(logging.Formatter):
    """One JSON object per record: ``at`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, and
    ``exception`` with the traceback text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(config: Config) -> None:
    """Send logs to stderr at the configured level, as text lines or JSON objects."""
    handler = logging.StreamHandler()
    if config.log_format == "json":
        handler.setFormatter(JSONLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level, handlers=[handler], force=True)
    logging.getLogger("specgate").setLevel(config.log_level)
