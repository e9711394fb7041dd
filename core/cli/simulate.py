"""``specgate simulate DEVICE``: drive a gateway with simulated devices and print a JSON summary.

Each device plugin brings its simulator through the ``specgate_register_simulators`` hook.
"""

from __future__ import annotations

import argparse

import pluggy

from core.cli.common import need_subcommand


def register(subparsers: argparse._SubParsersAction, pm: pluggy.PluginManager) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate devices against a running gateway",
        description="Connect simulated devices to a gateway over TCP and print a JSON summary.",
    )
    parser.set_defaults(func=need_subcommand(parser))
    kinds = parser.add_subparsers(dest="device", metavar="DEVICE")
    pm.hook.specgate_register_simulators(subparsers=kinds)
