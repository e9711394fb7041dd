"""Device options that plugins declare (``specgate_declare_options``), read and checked by core.

Each :class:`DeviceOption` names a key of the configuration file's ``devices.<section>`` mapping, an
optional environment variable that overrides it, the function that checks and converts the value, and its
default. Core applies them all in one place, so a misspelt key or a bad value fails at start-up with the
key, where it came from and the value, whichever plugin declared it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.config.listeners import ListenerConfig
from core.errors import ConfigError

#: ``parse(value, key)`` returns the converted value or raises ``ConfigError`` naming ``key``
OptionParser = Callable[[Any, str], Any]


@dataclass(frozen=True)
class DeviceOption:
    """One setting of a device type, declared by the plugin that reads it."""

    #: the ``devices.<section>`` mapping it lives in (usually the device type)
    section: str
    key: str
    parse: OptionParser
    help: str
    #: an environment variable that overrides the file (e.g. a legacy deployment's variable)
    env: str | None = None
    #: the value when neither the file nor the environment sets it; None = absent
    default: Any = None


def apply_device_options(
    devices: dict[str, dict[str, Any]], declared: Iterable[DeviceOption], env: Mapping[str, str], source: str = ""
) -> None:
    """Check ``devices`` (the file's ``devices:`` mapping, changed in place) against ``declared``.

    For every declared option: the environment variable wins over the file; the value is parsed; the
    default fills a missing one. A key under a declared section that no option declares is an error.
    Sections no loaded plugin declares are left as they are (their plugin may be disabled).
    """
    by_section: dict[str, dict[str, DeviceOption]] = {}
    for option in declared:
        by_section.setdefault(option.section, {})[option.key] = option
    for section, options in by_section.items():
        values = devices.setdefault(section, {})
        origin = f" (from {source})" if source else ""
        unknown = sorted(str(key) for key in values if key not in options)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(unknown)} in devices.{section}{origin}; allowed: {', '.join(sorted(options))}"
            )
        for key, option in options.items():
            name = f"devices.{section}.{key}{origin}"
            if option.env and env.get(option.env, "").strip():
                values[key] = option.parse(env[option.env].strip(), f"{option.env} (environment)")
            elif key in values:
                values[key] = option.parse(values[key], name)
            elif option.default is not None:
                values[key] = option.default


def check_listener_options(listener: ListenerConfig, declared: Iterable[DeviceOption]) -> None:
    """Check and convert the options of ``listener`` that its device type declares as device options
    (``--listen scale:4002:scale_id=dock`` goes through the same check as ``devices.scale.scale_id``);
    options no plugin declares are the plugin's own to read."""
    by_key = {option.key: option for option in declared if option.section == listener.device_type}
    for key, value in list(listener.options.items()):
        if key in by_key:
            listener.options[key] = by_key[key].parse(value, f"listener {listener.device_type}:{listener.port} {key}")
