"""The gas_meter plugin's options: the configuration's per-device-type options, then the listener's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from core.api import DEFAULT_TZ_OFFSET, Config, ConfigError, DeviceOption, tz_from_offset
from plugins.gas_meter.checkin import CheckinScheduler
from plugins.gas_meter.protocol import DEFAULT_REF_INTERVAL, INT32_MAX, as_int

DEVICE_TYPE = "gas_meter"
#: every option key this plugin reads (anything else under ``gas_meter`` is a configuration error)
OPTION_KEYS = ("checkin_spread", "checkin_min_gap", "default_ref_interval", "tz_offset")
#: the value of each option a configuration leaves out; ``tz_offset`` has none, the top-level timezone decides
OPTION_DEFAULTS: dict[str, Any] = {
    "checkin_spread": False,
    "checkin_min_gap": 0.5,
    "default_ref_interval": DEFAULT_REF_INTERVAL,
}


@dataclass(frozen=True)
class GasMeterOptions:
    """What the handler needs besides the packet and the device document."""

    tz: tzinfo = field(default_factory=lambda: tz_from_offset(DEFAULT_TZ_OFFSET))
    #: interval used when a device document has no usable ``ref_interval``
    default_ref_interval: int = DEFAULT_REF_INTERVAL
    checkin: CheckinScheduler = field(default_factory=CheckinScheduler)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any], tz: tzinfo | None = None) -> GasMeterOptions:
        """Build from a plain mapping (``checkin_spread``, ``checkin_min_gap``, ``default_ref_interval``,
        ``tz_offset``); ``tz`` is the configuration's zone, overridden by ``tz_offset``."""
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise ConfigError(f"unknown gas_meter option(s) {', '.join(unknown)}; allowed: {', '.join(OPTION_KEYS)}")
        if "tz_offset" in options:
            tz = tz_from_offset(options["tz_offset"])
        raw_interval = options.get("default_ref_interval", OPTION_DEFAULTS["default_ref_interval"])
        interval = as_int(raw_interval, 1, INT32_MAX)
        if interval is None:
            raise ConfigError(
                f"gas_meter default_ref_interval must be a positive number of seconds, got {raw_interval!r}"
            )
        return cls(
            tz=tz or tz_from_offset(DEFAULT_TZ_OFFSET),
            default_ref_interval=interval,
            checkin=CheckinScheduler(
                spread=_as_bool(options.get("checkin_spread", OPTION_DEFAULTS["checkin_spread"]), "checkin_spread"),
                min_gap=_as_fraction(
                    options.get("checkin_min_gap", OPTION_DEFAULTS["checkin_min_gap"]), "checkin_min_gap"
                ),
            ),
        )


def _as_bool(value: Any, key: str) -> bool:
    """A bool, or its spelling in a ``--listen`` flag (``true``/``false``, ``yes``/``no``, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise ConfigError(f"gas_meter {key} must be true or false, got {value!r}")


def _as_fraction(value: Any, key: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"gas_meter {key} must be a number in (0, 1], got {value!r}")
    return float(value)


def _checked(key: str) -> Callable[[Any, str], Any]:
    """The parser of one option: the value checked as ``GasMeterOptions`` will read it, kept as given."""

    def parse(value: Any, name: str) -> Any:
        GasMeterOptions.from_mapping({key: value})
        return value

    return parse


OPTION_HELP = {
    "checkin_spread": "spread the fleet's reports across the interval (true/false)",
    "checkin_min_gap": "least share of the interval between two reports when spreading (above 0, at most 1)",
    "default_ref_interval": "seconds between reports for a device document without a usable ref_interval",
    "tz_offset": "time zone of the meters' local times, overriding the top-level timezone",
}
OPTIONS = [
    DeviceOption(DEVICE_TYPE, key, _checked(key), OPTION_HELP[key], default=OPTION_DEFAULTS.get(key))
    for key in OPTION_KEYS
]

_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def options_for(config: Config, listener_options: Mapping[str, Any] | None = None) -> GasMeterOptions:
    """Configuration options, then the listener's own options on top."""
    merged = config.device_options(DEVICE_TYPE)
    merged.update({k: v for k, v in (listener_options or {}).items() if k in OPTION_KEYS})
    return GasMeterOptions.from_mapping(merged, tz=config.tz)
