"""The fg150kal device plugin: an A&D FG-150KAL scale streaming ASCII lines through a serial-to-Ethernet
converter. Stable weight lines become the scale's latest reading in the store (any process can serve it);
everything else is logged and counted. Several scales: one listener per port (``scale_id`` option), or
several converters on one port told apart by peer IP (``scale_by_peer`` option)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.hookspecs import hookimpl
from plugins.fg150kal.listeners import default_listener
from plugins.fg150kal.readings import DEVICE_TYPE, handle_message
from specs import bundled_spec_paths


@hookimpl
def specgate_register_specs() -> list[Path]:
    return [p for p in bundled_spec_paths() if p.stem == "fg150kal"]


@hookimpl
def specgate_declare_listeners(config: Any) -> list[Any]:
    return [default_listener(config)]


@hookimpl
def specgate_handle_message(session: Any, message: Any) -> Any:
    if session.device_type != DEVICE_TYPE:
        return None
    return handle_message(session, message)


@hookimpl
def specgate_register_routes(config: Any) -> list[Any]:
    from web.scale_gateway import routes

    return routes()
