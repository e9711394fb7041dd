"""The fg150kal device plugin: an A&D FG-150KAL scale streaming ASCII lines through a serial-to-Ethernet
converter. Stable weight lines become the scale's latest reading in the store (any process can serve it);
everything else is logged and counted. Several scales: one listener per port (``scale_id`` option), or
several converters on one port told apart by peer IP (``scale_by_peer`` option).

The plugin owns all of it: its spec (``specs/fg150kal.yaml``), its settings and ``SCALE_GATEWAY_*``
variables (``options``), its listener (``listeners``), what a line means (``readings``), the CYNOW
scale-gateway HTTP contract (``routes``), the weighing log and cylinder histories of the REST API
(``weighings``, with the anomaly rule of ``anomalies``), ``specgate weighings import`` (``weighing_import``),
``specgate simulate scale`` (``commands``, ``simulator``) and the dashboard's weighing station
(``dashboard/station.js``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from starlette.routing import BaseRoute

from core.api import (
    Config,
    DashboardModule,
    Decoded,
    DeviceOption,
    ListenerConfig,
    Outcome,
    Session,
    bundled_spec_paths,
    hookimpl,
)
from plugins.fg150kal import commands, options, readings
from plugins.fg150kal.listeners import default_listener


@hookimpl
def specgate_register_specs() -> list[Path]:
    return [p for p in bundled_spec_paths() if p.stem == options.DEVICE_TYPE]


@hookimpl
def specgate_declare_options() -> list[DeviceOption]:
    return list(options.OPTIONS)


@hookimpl
def specgate_declare_listeners(config: Config) -> list[ListenerConfig]:
    return [default_listener(config)]


@hookimpl
def specgate_handle_message(session: Session, message: Decoded) -> Outcome:
    return readings.handle_message(session, message)


@hookimpl
def specgate_register_routes(config: Config) -> list[BaseRoute]:
    from plugins.fg150kal import routes, weighings

    return [*routes.routes(), *weighings.routes()]


@hookimpl
def specgate_register_dashboard(config: Config) -> list[DashboardModule]:
    directory = Path(__file__).with_name("dashboard")
    return [DashboardModule("fg150kal", directory, "station.js", {"eng": "Weighing station", "kor": "계량소"})]


@hookimpl
def specgate_register_commands(subparsers: argparse._SubParsersAction) -> None:
    from plugins.fg150kal import weighing_import

    weighing_import.register_commands(subparsers)


@hookimpl
def specgate_register_simulators(subparsers: argparse._SubParsersAction) -> None:
    commands.register_simulator(subparsers)
