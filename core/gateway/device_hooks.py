"""The session hooks as one device type's sessions see them.

A session hook (connection opened and closed, decode, handle, reply) goes to the plugins that registered the
spec of the session's device type and to the plugins that register no spec (cross-cutting ones), never to
another device type's plugin. So a device plugin needs no ``device_type`` guard, and its
``specgate_handle_message`` may be ``async def``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import pluggy

from core.plugins import device_owners

SESSION_HOOKS = (
    "specgate_connection_opened",
    "specgate_connection_closed",
    "specgate_decode_frame",
    "specgate_handle_message",
    "specgate_build_reply",
)


class DeviceHooks:
    """``hook.<name>``: each session hook of ``pm`` without the other device types' plugins."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        device_type: str,
        owners: Mapping[str, Sequence[object]] | None = None,
    ) -> None:
        owners = device_owners(pm) if owners is None else owners
        mine = {id(plugin) for plugin in owners.get(device_type, ())}
        others = {id(p): p for plugins in owners.values() for p in plugins if id(p) not in mine}
        self.device_type = device_type
        self.hook = SimpleNamespace(
            **{name: pm.subset_hook_caller(name, remove_plugins=list(others.values())) for name in SESSION_HOOKS}
        )
