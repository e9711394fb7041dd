"""The default listeners: one for wired M-Bus frames from converters, one for wireless telegrams."""

from __future__ import annotations

from core.api import Config, ListenerConfig
from plugins.mbus.options import DEFAULT_PORTS, DEVICE_TYPES, WIRED

#: a long frame is at most 261 bytes (L is one byte), a wireless telegram at most 256
MAX_FRAME = {"mbus": 261, "wmbus": 256}


def default_listeners(config: Config) -> list[ListenerConfig]:
    """The listeners that ``devices.mbus.listen`` / ``devices.wmbus.listen`` turn on (a ``listeners:`` entry
    of the configuration file opens one too, with these settings as its defaults). Both skip garbage (a converter's line noise, a receiver's status lines) rather than close,
    replace a converter's half-open connection when it reconnects, and log no exchanges (there are none:
    meters push, nobody replies)."""
    listeners = []
    for device_type in DEVICE_TYPES:
        options = config.device_options(device_type)
        if not options.get("listen"):
            continue
        listeners.append(
            ListenerConfig(
                device_type=device_type,
                port=int(options.get("listen_port", DEFAULT_PORTS[device_type])),
                host=str(options.get("listen_host", "0.0.0.0")),
                idle_timeout=900.0 if device_type == WIRED else 3600.0,
                max_frame_length=MAX_FRAME[device_type],
                frame_timeout=10.0,
                replace_same_peer=True,
                on_bad_frame="skip",
                log_exchanges=False,
            )
        )
    return listeners
