"""The gas_meter device plugin: NB-IoT gas meters reporting hourly counter snapshots (eUtiSync protocol).

The module itself is the registered plugin and answers with the real clock. Tests (or an embedding
application) that need another clock register ``GasMeterPlugin(clock=...)`` instead:

    pm = get_plugin_manager(disabled=["gas_meter"])
    pm.register(GasMeterPlugin(clock=lambda: 1741190400), name="gas_meter")
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from core.gateway.types import ListenerConfig, Outcome
from core.hookspecs import hookimpl
from plugins.gas_meter.handler import GasMeterHandler
from plugins.gas_meter.options import DEVICE_TYPE, GasMeterOptions, options_for
from specs import bundled_spec_paths

__all__ = ["DEFAULT_PORT", "GasMeterPlugin", "default_listener"]

DEFAULT_PORT = 5004


def default_listener() -> ListenerConfig:
    """The gas meter listener: port 5004; junk closes the connection; every exchange is logged; several
    meters may share one address (carrier NAT), so a new connection never replaces an older one."""
    return ListenerConfig(
        device_type=DEVICE_TYPE,
        port=DEFAULT_PORT,
        idle_timeout=60.0,
        max_frame_length=256,
        options={"on_bad_frame": "close", "log_exchanges": True, "replace_same_peer": False, "frame_timeout": 30.0},
    )


class GasMeterPlugin:
    """The plugin's hooks bound to a clock and, optionally, fixed options."""

    def __init__(self, clock: Callable[[], float] = time.time, options: GasMeterOptions | None = None) -> None:
        self.handler = GasMeterHandler(clock=clock, options=options)

    @hookimpl
    def specgate_register_specs(self) -> list[Path]:
        return [p for p in bundled_spec_paths() if p.stem == DEVICE_TYPE]

    @hookimpl
    def specgate_declare_listeners(self, config: Any) -> list[ListenerConfig]:
        options_for(config)  # a bad gas_meter option fails at start-up, not on the first packet
        return [default_listener()]

    @hookimpl
    def specgate_handle_message(self, session: Any, message: Any) -> Awaitable[Outcome] | None:
        # not ``async def``: for another device type the hook must return None itself (firstresult),
        # not a coroutine that would later produce None
        if session.device_type != DEVICE_TYPE:
            return None
        return self.handler.handle(session, message)


_default = GasMeterPlugin()


@hookimpl
def specgate_register_specs() -> list[Path]:
    return _default.specgate_register_specs()


@hookimpl
def specgate_declare_listeners(config: Any) -> list[ListenerConfig]:
    return _default.specgate_declare_listeners(config)


@hookimpl
def specgate_handle_message(session: Any, message: Any) -> Awaitable[Outcome] | None:
    return _default.specgate_handle_message(session, message)
