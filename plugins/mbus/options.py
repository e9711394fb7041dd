"""The M-Bus plugin's settings: ``devices.mbus`` (the wired converters' listener) and ``devices.wmbus`` (the
receivers' listener and the AES keys of the wireless meters)."""

from __future__ import annotations

from typing import Any

from core.api import Config, ConfigError, DeviceOption, KeyRing, as_bool, as_int, as_mapping, as_str

WIRED = "mbus"
WIRELESS = "wmbus"
DEVICE_TYPES = (WIRED, WIRELESS)
DEFAULT_PORTS = {WIRED: 10001, WIRELESS: 10002}


def _port(value: Any, key: str) -> int:
    return as_int(value, key, low=0, high=65535)


def _key(value: Any, key: str) -> str:
    text = as_str(value, key).replace(" ", "")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{key} must be an AES-128 key as 32 hex digits, got {value!r}") from None
    if len(raw) != 16:
        raise ConfigError(f"{key} must be an AES-128 key as 32 hex digits, got {len(text)} digits")
    return text.upper()


def _keys(value: Any, key: str) -> dict[str, str]:
    mapping = as_mapping(value, key)
    return {str(meter).upper(): _key(hex_key, f"{key}[{meter!r}]") for meter, hex_key in mapping.items()}


OPTIONS = [
    *(
        DeviceOption(
            device_type,
            "listen",
            as_bool,
            "open the default listener (off: a gateway without M-Bus converters or receivers opens no port)",
            default=False,
        )
        for device_type in DEVICE_TYPES
    ),
    *(
        DeviceOption(device_type, "listen_host", as_str, "address the listener binds", default="0.0.0.0")
        for device_type in DEVICE_TYPES
    ),
    *(
        DeviceOption(device_type, "listen_port", _port, "port the listener binds", default=DEFAULT_PORTS[device_type])
        for device_type in DEVICE_TYPES
    ),
    DeviceOption(WIRELESS, "keys", _keys, "AES-128 keys by meter id (8 digits): {meter id: 32 hex digits}"),
    DeviceOption(WIRELESS, "default_key", _key, "an AES-128 key tried for every meter (32 hex digits)"),
]


def key_ring(config: Config, device_type: str) -> KeyRing | None:
    """The keys the options give for a device type's telegrams (None for the wired one: it has none)."""
    if device_type != WIRELESS:
        return None
    settings = config.device_options(WIRELESS)
    ring = KeyRing.of(settings.get("keys") or {}) or KeyRing()
    if settings.get("default_key"):
        ring.default.append(bytes.fromhex(settings["default_key"]))
    return ring
