"""``specgate plugins``: every loaded plugin with its hooks and specs (the data ``GET /-/plugins`` serves)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pluggy


def _spec_names(plugin: Any) -> list[str]:
    register = getattr(plugin, "specgate_register_specs", None)
    if register is None:
        return []
    names = []
    for path in register() or []:
        try:
            from core.spec import load_spec

            names.append(load_spec(path).name)
        except Exception:
            names.append(Path(path).stem)
    return sorted(names)


def describe_plugins(pm: pluggy.PluginManager) -> dict[str, Any]:
    """``{"plugins": [{"name", "hooks", "specs", "package", "version"}]}`` in registration order."""
    distributions = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    described = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        dist = distributions.get(id(plugin))
        described.append({
            "name": name,
            "hooks": hooks,
            "specs": _spec_names(plugin) if "specgate_register_specs" in hooks else [],
            "package": dist.project_name if dist is not None else None,
            "version": dist.version if dist is not None else None,
        })
    return {"plugins": described}


def _print_text(data: dict[str, Any]) -> None:
    for plugin in data["plugins"]:
        origin = f"  ({plugin['package']} {plugin['version']})" if plugin["package"] else ""
        print(f"{plugin['name']}{origin}")
        print(f"  hooks: {', '.join(plugin['hooks']) or '-'}")
        print(f"  specs: {', '.join(plugin['specs']) or '-'}")


def run(args: argparse.Namespace) -> int:
    from core.config import load_config
    from core.plugins import get_plugin_manager

    config = load_config(args.config)
    data = describe_plugins(get_plugin_manager(config.plugins, config.disable_plugins))
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        _print_text(data)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plugins", help="list loaded plugins, their hooks and specs")
    parser.add_argument("--config", help="configuration file (default: SPECGATE_CONFIG)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)
