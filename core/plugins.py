"""The one plugin manager: built-in plugins first, then installed ``specgate.plugins`` entry points.

``SPECGATE_PLUGINS`` (comma-separated plugin names) selects which plugins load; ``SPECGATE_DISABLE_PLUGINS``
removes some. Names are the built-in module names (``gas_meter``, ``fg150kal``) or entry-point names.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Iterable

import pluggy

from core import hookspecs
from core.errors import ConfigError

DEFAULT_PLUGINS = (
    "core.default_plugin",
    "plugins.gas_meter",
    "plugins.fg150kal",
)
ENTRY_POINT_GROUP = "specgate.plugins"
#: plugins that cannot be deselected: the runtime's own default behaviour
_ALWAYS = ("core.default_plugin",)


def _short_name(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def _selection(enabled: Iterable[str] | None, disabled: Iterable[str] | None) -> tuple[set[str] | None, set[str]]:
    if enabled is None:
        raw = os.environ.get("SPECGATE_PLUGINS", "").strip()
        enabled = [p.strip() for p in raw.split(",") if p.strip()] if raw else None
    if disabled is None:
        raw = os.environ.get("SPECGATE_DISABLE_PLUGINS", "")
        disabled = [p.strip() for p in raw.split(",") if p.strip()]
    return (set(enabled) if enabled is not None else None), set(disabled)


def get_plugin_manager(
    enabled: Iterable[str] | None = None,
    disabled: Iterable[str] | None = None,
    load_entry_points: bool = True,
) -> pluggy.PluginManager:
    """Build the plugin manager. ``enabled``/``disabled`` override the environment variables."""
    wanted, unwanted = _selection(enabled, disabled)
    pm = pluggy.PluginManager("specgate")
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        short = _short_name(module_name)
        if module_name not in _ALWAYS and (short in unwanted or (wanted is not None and short not in wanted)):
            continue
        pm.register(importlib.import_module(module_name), name=short)
    deselected: set[str] = set()
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        for name, plugin in list(pm.list_name_plugin()):
            if name in {_short_name(m) for m in DEFAULT_PLUGINS}:
                continue
            if name in unwanted or (wanted is not None and name not in wanted):
                pm.unregister(plugin=plugin, name=name)
                deselected.add(name)
    # an installed plugin that was deselected is still a known name
    known = {name for name, _ in pm.list_name_plugin()} | deselected
    unknown = ((wanted or set()) | unwanted) - known - {_short_name(m) for m in DEFAULT_PLUGINS}
    if unknown:
        raise ConfigError(f"unknown plugin name(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    pm.check_pending()
    return pm


def spec_paths(pm: pluggy.PluginManager | None = None) -> list[Path]:
    """Every spec file registered by a loaded plugin, in plugin order."""
    pm = pm or get_plugin_manager()
    paths: list[Path] = []
    for result in reversed(pm.hook.specgate_register_specs()):
        paths.extend(Path(p) for p in result or [])
    return paths
