"""The fg150kal plugin's settings: ``devices.fg150kal`` in the configuration file, and the CYNOW scale
gateway's ``SCALE_GATEWAY_*`` environment variables, which override it (an existing installation keeps its
environment).

Scales belong to the tenant named in their listener's options (``tenant``, also a ``devices.fg150kal`` key
for the default listener and ``--listen fg150kal:4002:scale_id=dock,tenant=gas_demo`` for another); a
scale with none is shared by every tenant (a single-site installation, as the original ran).
"""

from __future__ import annotations

import re
from typing import Any

from core.api import Config, ConfigError, DeviceOption, as_float, as_int, as_mapping, as_str

DEVICE_TYPE = "fg150kal"
DEFAULT_SCALE_ID = "default"
DEFAULT_IDLE_TIMEOUT = 10.0


def _port(value: Any, key: str) -> int:
    return as_int(value, key, low=0, high=65535)


#: a tenant is its database name (as the store checks it)
_TENANT = re.compile(r"^[A-Za-z0-9_]{1,63}$")


def _tenant(value: Any, key: str) -> str:
    text = as_str(value, key)
    if not _TENANT.fullmatch(text):
        raise ConfigError(f"{key} must be a tenant name (1-63 letters, digits or _, e.g. gas_demo), got {value!r}")
    return text


def _scale_by_peer(value: Any, key: str) -> dict[str, str]:
    mapping = as_mapping(value, key)
    for ip, scale_id in mapping.items():
        if not isinstance(scale_id, str) or not scale_id:
            raise ConfigError(f"{key}[{ip!r}] must be a scale id string, got {scale_id!r}")
    return {str(ip): scale_id for ip, scale_id in mapping.items()}


OPTIONS = [
    DeviceOption(
        DEVICE_TYPE,
        "listen_host",
        as_str,
        "address the scale listener binds",
        env="SCALE_GATEWAY_LISTEN_HOST",
        default="0.0.0.0",
    ),
    DeviceOption(
        DEVICE_TYPE,
        "listen_port",
        _port,
        "port the scale listener binds",
        env="SCALE_GATEWAY_LISTEN_PORT",
        default=4001,
    ),
    DeviceOption(
        DEVICE_TYPE,
        "idle_timeout_sec",
        as_float,
        "seconds without a line before the connection is closed and the latest reading is stale",
        env="SCALE_GATEWAY_IDLE_TIMEOUT_SEC",
        default=DEFAULT_IDLE_TIMEOUT,
    ),
    DeviceOption(DEVICE_TYPE, "scale_id", as_str, "the scale id readings are kept under", default=DEFAULT_SCALE_ID),
    DeviceOption(
        DEVICE_TYPE,
        "tenant",
        _tenant,
        "the tenant the listener's scales belong to; without one they are shared by every tenant",
    ),
    DeviceOption(
        DEVICE_TYPE, "scale_by_peer", _scale_by_peer, "scale ids by converter IP, for several converters on one port"
    ),
]


def stale_after(config: Config) -> float:
    """Age after which the latest scale reading is ``stale`` (also the scale listener's idle timeout)."""
    return float(config.device_options(DEVICE_TYPE).get("idle_timeout_sec", DEFAULT_IDLE_TIMEOUT))
