"""The one plugin manager, and what core learns from the plugins it loads.

Load order: ``core.default_plugin`` (the runtime's own defaults, ``trylast``), then the plugins the specgate
distribution itself registers under the entry-point group ``specgate.plugins`` (the built-in device
plugins, in the order of their entry-point names), then every other installed package's entry points.
Core names no device plugin: it finds them all through entry points.

``SPECGATE_PLUGINS`` (comma-separated names) selects which plugins load; ``SPECGATE_DISABLE_PLUGINS``
removes some. Names are entry-point names (``specgate plugins`` lists them).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pluggy
import yaml

from core import hookspecs
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config.options import DeviceOption
    from core.spec import Spec, SpecRegistry

DEFAULT_PLUGIN = "core.default_plugin"
ENTRY_POINT_GROUP = "specgate.plugins"
DISTRIBUTION = "specgate"


def _selection(enabled: Iterable[str] | None, disabled: Iterable[str] | None) -> tuple[set[str] | None, set[str]]:
    if enabled is None:
        raw = os.environ.get("SPECGATE_PLUGINS", "").strip()
        enabled = [p.strip() for p in raw.split(",") if p.strip()] if raw else None
    if disabled is None:
        raw = os.environ.get("SPECGATE_DISABLE_PLUGINS", "")
        disabled = [p.strip() for p in raw.split(",") if p.strip()]
    return (set(enabled) if enabled is not None else None), set(disabled)


def _entry_points() -> tuple[list[importlib.metadata.EntryPoint], list[importlib.metadata.EntryPoint]]:
    """(specgate's own plugin entry points, every other distribution's), each in declaration order."""
    own: list[importlib.metadata.EntryPoint] = []
    others: list[importlib.metadata.EntryPoint] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["name"] or "").lower()
        for entry_point in dist.entry_points:
            if entry_point.group != ENTRY_POINT_GROUP or entry_point.name in seen:
                continue
            seen.add(entry_point.name)
            (own if name == DISTRIBUTION else others).append(entry_point)
    return own, others


def get_plugin_manager(
    enabled: Iterable[str] | None = None,
    disabled: Iterable[str] | None = None,
    installed: bool = True,
) -> pluggy.PluginManager:
    """Build the plugin manager. ``enabled``/``disabled`` override the environment variables;
    ``installed=False`` leaves out plugins of other distributions (only specgate's own load)."""
    wanted, unwanted = _selection(enabled, disabled)
    pm = pluggy.PluginManager("specgate")
    pm.add_hookspecs(hookspecs)
    pm.register(importlib.import_module(DEFAULT_PLUGIN), name="default_plugin")
    own, others = _entry_points()
    names = [entry_point.name for entry_point in own + others]
    unknown = ((wanted or set()) | unwanted) - set(names)
    if unknown:
        known = ", ".join(sorted(set(names) | {"default_plugin"}))
        raise ConfigError(f"unknown plugin name(s) {', '.join(sorted(unknown))}; known: {known}")
    deselected = [name for name in names if name in unwanted or (wanted is not None and name not in wanted)]
    for entry_point in own:
        if entry_point.name not in deselected:
            pm.register(entry_point.load(), name=entry_point.name)
    if installed:
        for name in deselected:
            pm.set_blocked(name)
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)  # records each plugin's distribution
        for name in deselected:
            pm.unblock(name)
    pm.check_pending()
    return pm


# --------------------------------------------------------------------------- what the plugins provide


def spec_paths(pm: pluggy.PluginManager) -> list[Path]:
    """Every spec file registered by a loaded plugin, in plugin order."""
    return [path for _, path in _registered_specs(pm)]


def _registered_specs(pm: pluggy.PluginManager) -> list[tuple[object, Path]]:
    registered: list[tuple[object, Path]] = []
    for impl in pm.hook.specgate_register_specs.get_hookimpls():
        paths = cast("list[Path | str] | None", impl.function()) or []
        for path in paths:
            registered.append((impl.plugin, Path(path)))
    return registered


def spec_name(path: Path) -> str:
    """A spec file's ``meta.name`` (its device type), read without compiling it; the file stem if unreadable."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        name = document["meta"]["name"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return path.stem
    return name if isinstance(name, str) and name else path.stem


def load_specs(pm: pluggy.PluginManager) -> dict[str, Spec]:
    """Every registered spec by device type; a later plugin's spec of the same name replaces an earlier one
    (the rule ``serve``, ``decode`` and ``specs`` share)."""
    from core.spec import load_spec

    specs: dict[str, Spec] = {}
    for path in spec_paths(pm):
        spec = load_spec(path)
        specs[spec.name] = spec
    return specs


def spec_registry(pm: pluggy.PluginManager | None = None) -> SpecRegistry:
    """The loaded plugins' specs as a registry (by name, later plugin wins), for the spec commands."""
    from core.spec import SpecRegistry

    return SpecRegistry(load_specs(pm or get_plugin_manager()).values())


def device_owners(pm: pluggy.PluginManager) -> dict[str, list[object]]:
    """The plugins that registered a spec of each device type: the plugins its sessions' hooks go to."""
    owners: dict[str, list[object]] = {}
    for plugin, path in _registered_specs(pm):
        owners.setdefault(spec_name(path), []).append(plugin)
    return owners


def declared_options(pm: pluggy.PluginManager) -> list[DeviceOption]:
    """Every device option the loaded plugins declare (``specgate_declare_options``)."""
    return [option for result in reversed(pm.hook.specgate_declare_options()) for option in result or []]


@dataclass
class PluginDescription:
    name: str
    hooks: list[str]
    specs: list[str] = field(default_factory=list)
    package: str | None = None
    version: str | None = None
    #: the device options it declares: ``{"name": "devices.<section>.<key>", "env", "default", "help"}``
    options: list[dict[str, Any]] = field(default_factory=list)


def _plain(value: Any) -> Any:
    """A default as JSON can carry it (``GET /-/plugins`` serves it): a plugin's own types become text."""
    return value if isinstance(value, (str, int, float, bool, list, dict, type(None))) else str(value)


def _options_by_plugin(pm: pluggy.PluginManager) -> dict[int, list[dict[str, Any]]]:
    by_plugin: dict[int, list[dict[str, Any]]] = {}
    for impl in pm.hook.specgate_declare_options.get_hookimpls():
        declared = cast("list[DeviceOption]", impl.function() or [])
        by_plugin[id(impl.plugin)] = [
            {"name": f"devices.{o.section}.{o.key}", "env": o.env, "default": _plain(o.default), "help": o.help}
            for o in declared
        ]
    return by_plugin


def describe_plugins(pm: pluggy.PluginManager) -> dict[str, Any]:
    """``{"plugins": [{"name", "hooks", "specs", "package", "version", "options"}]}`` in registration order: what
    ``specgate plugins`` prints and ``GET /-/plugins`` serves."""
    distributions = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    specs_by_plugin: dict[int, list[str]] = {}
    for plugin, path in _registered_specs(pm):
        specs_by_plugin.setdefault(id(plugin), []).append(spec_name(path))
    options = _options_by_plugin(pm)
    described = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = distributions.get(id(plugin))
        described.append(
            PluginDescription(
                name=name,
                hooks=sorted(caller.name for caller in pm.get_hookcallers(plugin) or []),
                specs=sorted(specs_by_plugin.get(id(plugin), [])),
                package=dist.project_name if dist is not None else None,
                version=dist.version if dist is not None else None,
                options=options.get(id(plugin), []),
            ).__dict__
        )
    return {"plugins": described}
