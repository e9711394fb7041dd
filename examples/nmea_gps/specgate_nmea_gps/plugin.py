"""The nmea_gps plugin's hooks: its spec, its options and listener, the checksum check, and storing fixes.

Only ``core.api`` of specgate is imported, so the plugin keeps working while specgate's insides move.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.api import (
    Config,
    Decoded,
    DeviceOption,
    ListenerConfig,
    Outcome,
    Session,
    Store,
    as_int,
    as_str,
    count,
    hookimpl,
)
from specgate_nmea_gps.nmea import DEVICE_TYPE, check_checksum, fix_values

#: IANA's registered port for NMEA 0183 navigational data over TCP
DEFAULT_PORT = 10110
log = logging.getLogger("specgate.nmea_gps")


@hookimpl
def specgate_register_specs() -> list[Path]:
    return [Path(__file__).with_name("nmea_gps.yaml")]


@hookimpl
def specgate_declare_options() -> list[DeviceOption]:
    return [
        DeviceOption(DEVICE_TYPE, "listen_host", as_str, "address the NMEA listener binds", default="0.0.0.0"),
        DeviceOption(
            DEVICE_TYPE,
            "listen_port",
            lambda value, key: as_int(value, key, low=0, high=65535),
            "port the NMEA listener binds",
            default=DEFAULT_PORT,
        ),
        DeviceOption(
            DEVICE_TYPE, "device_id", as_str, "the id fixes are kept under (default: the receiver's IP address)"
        ),
    ]


@hookimpl
def specgate_declare_listeners(config: Config) -> list[ListenerConfig]:
    options = config.device_options(DEVICE_TYPE)
    return [
        ListenerConfig(
            device_type=DEVICE_TYPE,
            port=int(options.get("listen_port", DEFAULT_PORT)),
            host=str(options.get("listen_host", "0.0.0.0")),
            max_frame_length=128,
            replace_same_peer=True,
            on_bad_frame="skip",
            log_exchanges=False,
        )
    ]


@hookimpl
def specgate_decode_frame(session: Session, frame: bytes) -> Decoded:
    message = session.spec.decode(frame)
    check_checksum(frame, message)
    return message


def device_id_for(session: Session) -> str:
    """The listener's ``device_id`` option, else the ``devices.nmea_gps.device_id`` setting, else the peer IP."""
    configured = session.listener.options.get("device_id") or session.config.device_options(DEVICE_TYPE).get(
        "device_id"
    )
    return str(configured or session.peer_host)


@hookimpl
async def specgate_handle_message(session: Session, message: Decoded) -> Outcome:
    values = fix_values(message)
    if values is None:
        count(session, f"{message.message}_not_stored")
        log.debug("%s from %s: %s without a fix, not stored", DEVICE_TYPE, session.peer_host, message.message)
        return Outcome()
    measurement = {
        "device_type": DEVICE_TYPE,
        "device_id": device_id_for(session),
        "at": session.now(),
        "values": values,
    }

    async def keep(store: Store) -> None:
        await store.record_measurements([measurement])  # the same fix twice is kept once
        count(session, "fixes")

    return Outcome(store=keep)
