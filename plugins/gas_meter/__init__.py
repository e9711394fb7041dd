"""The gas_meter device plugin: NB-IoT gas meters reporting hourly counter snapshots (eUtiSync protocol).

The plugin owns all of it: its spec (``specs/gas_meter.yaml``), its options (``options``), what a report
means and what to reply (``handler``, ``protocol``, ``checkin``), ``specgate devices ...`` and ``specgate
simulate gas-meter`` (``commands``, ``simulator``). Time comes from the gateway's clock (``session.now()``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.api import Config, Decoded, DeviceOption, ListenerConfig, Outcome, Session, bundled_spec_paths, hookimpl
from plugins.gas_meter import commands
from plugins.gas_meter.handler import GasMeterHandler
from plugins.gas_meter.options import DEVICE_TYPE, OPTIONS, options_for

__all__ = ["DEFAULT_PORT", "default_listener"]

DEFAULT_PORT = 5004
_handler = GasMeterHandler()


def default_listener() -> ListenerConfig:
    """The gas meter listener: port 5004; junk closes the connection; every exchange is logged; several
    meters may share one address (carrier NAT), so a new connection never replaces an older one, and one
    address may hold a quarter of the connection slots (250 of 1000), not one slot."""
    return ListenerConfig(
        device_type=DEVICE_TYPE,
        port=DEFAULT_PORT,
        idle_timeout=60.0,
        max_frame_length=256,
        on_bad_frame="close",
        log_exchanges=True,
        replace_same_peer=False,
        frame_timeout=30.0,
        max_share_per_address=0.25,
    )


@hookimpl
def specgate_register_specs() -> list[Path]:
    return [p for p in bundled_spec_paths() if p.stem == DEVICE_TYPE]


@hookimpl
def specgate_declare_options() -> list[DeviceOption]:
    return list(OPTIONS)


@hookimpl
def specgate_declare_listeners(config: Config) -> list[ListenerConfig]:
    options_for(config)  # a bad gas_meter option fails at start-up, not on the first packet
    return [default_listener()]


@hookimpl
def specgate_handle_message(session: Session, message: Decoded) -> Outcome:
    return _handler.handle(session, message)


@hookimpl
def specgate_register_commands(subparsers: argparse._SubParsersAction) -> None:
    commands.register_commands(subparsers)


@hookimpl
def specgate_register_simulators(subparsers: argparse._SubParsersAction) -> None:
    commands.register_simulator(subparsers)
