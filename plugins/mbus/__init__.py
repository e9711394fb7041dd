"""The M-Bus device plugin: wired M-Bus frames pushed over TCP by M-Bus/TCP converters (device type
``mbus``, ``specs/mbus.yaml``) and wireless M-Bus telegrams forwarded by a receiver (device type ``wmbus``,
``specs/wmbus.yaml``). Every data telegram becomes one measurement of its meter (the meter's 8-digit id)
with the header and the records (function, storage, tariff, subunit, quantity, unit, value in the base
unit); single-character acknowledgements and short frames are only counted.

AES keys of wireless meters come from the ``devices.wmbus`` options (``keys: {meter id: hex}``,
``default_key``) or from the meter's device document in the store (``aes_key``).
"""

from __future__ import annotations

from pathlib import Path

from core.api import Config, Decoded, DeviceOption, ListenerConfig, Outcome, Session, bundled_spec_paths, hookimpl
from plugins.mbus import options, readings
from plugins.mbus.listeners import default_listeners


@hookimpl
def specgate_register_specs() -> list[Path]:
    return [p for p in bundled_spec_paths() if p.stem in options.DEVICE_TYPES]


@hookimpl
def specgate_declare_options() -> list[DeviceOption]:
    return list(options.OPTIONS)


@hookimpl
def specgate_declare_listeners(config: Config) -> list[ListenerConfig]:
    return default_listeners(config)


@hookimpl
def specgate_decode_frame(session: Session, frame: bytes) -> Decoded:
    return session.spec.decode(frame, keys=options.key_ring(session.config, session.device_type))


@hookimpl
async def specgate_handle_message(session: Session, message: Decoded) -> Outcome:
    return await readings.handle_message(session, message)
